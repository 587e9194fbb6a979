import { z } from 'zod';
import { timeZone } from './time-zone.ts';

/**
 * The `automations` section of mailroom.yaml. The main config schema embeds it as
 * `automations: automationsSchema.prefault({})`, so every key has a default and an absent section
 * means "all steps on, default delays".
 */

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time "HH:MM"');
const days = z
  .number({ error: 'expected a number of days >= 0' })
  .nonnegative('expected a number of days >= 0');
const template = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_/-]*$/, 'expected a template name such as order-confirmation');
const count = (what: string) =>
  z
    .number({ error: `expected ${what}` })
    .int(`expected ${what}`)
    .nonnegative(`expected ${what}`);

export const automationsSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Used when a customer has no time zone; the lead passes sla.time_zone when this is unset. */
    time_zone: timeZone.optional(),
    default_locale: z.string().min(2).default('en'),
    /** How often follow-ups are looked for and orders stored without a queue are picked up. */
    scan_every_min: z.number().positive('expected a number of minutes > 0').default(15),
    /** No automatic mail between start and end, local time of the customer; null turns it off. */
    quiet_hours: z
      .object({ start: hhmm, end: hhmm })
      .strict()
      .nullable()
      .default({ start: '21:00', end: '08:00' }),
    confirmation: z
      .object({ enabled: z.boolean().default(true), template: template.default('order-confirmation') })
      .strict()
      .prefault({}),
    payment_reminder: z
      .object({
        enabled: z.boolean().default(true),
        template: template.default('payment-reminder'),
        after_days: days.default(3),
        max: count('a number of reminders').default(2),
        /** Payment deadline named in the reminder when the shop sent no payment_due_at. */
        deadline_days: days.default(7),
      })
      .strict()
      .prefault({}),
    follow_up: z
      .object({
        enabled: z.boolean().default(true),
        template: template.default('follow-up'),
        after_days: days.default(2),
        /** mail: write to the customer; task: put "call the customer" in the staff inbox. */
        mode: z.enum(['mail', 'task']).default('mail'),
        /** Departments whose follow-ups are staff tasks whatever the mode. */
        task_departments: z.array(z.string().min(1)).default([]),
        /** Follow-ups per conversation until the customer writes again. */
        max: count('a number of follow-ups').default(1),
      })
      .strict()
      .prefault({}),
    review_request: z
      .object({
        enabled: z.boolean().default(true),
        template: template.default('review-request'),
        after_days: days.default(7),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type AutomationsConfig = z.output<typeof automationsSchema>;
export type AutomationsConfigInput = z.input<typeof automationsSchema>;

export function automationsConfig(input: AutomationsConfigInput = {}): AutomationsConfig {
  return automationsSchema.parse(input);
}
