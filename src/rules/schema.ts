import { z } from 'zod';
import { Departments, Urgencies } from '../config/index.ts';

/**
 * The shape of a rules file. Objects are strict so a misspelt key is refused with its line instead
 * of silently doing nothing. `when` is checked by compile.ts, which knows the condition language.
 */

const department = z.enum(Departments);

export const thenSchema = z
  .object({
    department: department.optional(),
    urgency: z.enum(Urgencies).optional(),
    tags: z.array(z.string().min(1, 'expected a tag name')).default([]),
    assign: z.string().min(1, 'expected a user or team name').optional(),
    auto_reply: z.string().min(1, 'expected a template name').optional(),
    copy_to: z.union([department, z.array(department)]).optional(),
    stop: z.boolean().default(false),
  })
  .strict();

export const ruleSchema = z
  .object({
    name: z
      .string()
      .regex(/^[\p{L}\p{N}][\p{L}\p{N}_.-]*$/u, 'expected a rule name of letters, digits, "_", "-" and "."'),
    description: z.string().optional(),
    priority: z.number().int('expected a whole number').default(0),
    when: z.unknown().refine((v) => v !== undefined && v !== null, 'is required (the conditions)'),
    // biome-ignore lint/suspicious/noThenProperty: `then` is the rules-file key users write; never awaited
    then: thenSchema,
  })
  .strict();

export const rulesFileSchema = z
  .object({
    rules: z.array(ruleSchema),
  })
  .strict();

export type RuleFile = z.infer<typeof rulesFileSchema>;
export type RawRule = z.infer<typeof ruleSchema>;
