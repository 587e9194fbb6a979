import { z } from 'zod';
import { ErrorCodes, isTimeZone, MailroomError } from '../lib/index.ts';

/**
 * What the shop sends about an order, validated before anything is stored. The same schemas serve
 * the JSON API and the CSV import, so both report problems the same way: field path + expectation.
 */

const isoTime = z
  .string({ error: 'expected an ISO 8601 time such as 2026-01-05T09:00:00Z' })
  .refine(
    (s) => /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) && !Number.isNaN(Date.parse(s)),
    {
      message: 'expected an ISO 8601 time such as 2026-01-05T09:00:00Z',
    },
  )
  .transform((s) => Date.parse(s));

const knownZone = (zone: string) => zone.length > 0 && isTimeZone(zone);

const cents = z
  .number({ error: 'expected a whole number of cents >= 0' })
  .int('expected a whole number of cents >= 0')
  .nonnegative('expected a whole number of cents >= 0');

export const orderItemSchema = z
  .object({
    sku: z.string().max(100).optional(),
    name: z.string({ error: 'expected the item name' }).min(1, 'expected the item name').max(500),
    quantity: z
      .number({ error: 'expected a whole number > 0' })
      .int('expected a whole number > 0')
      .positive('expected a whole number > 0'),
    unit_cents: cents,
  })
  .strict();

export const orderInputSchema = z
  .object({
    id: z
      .string({ error: 'expected the shop order number' })
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/,
        'expected an order number of letters, digits, ".", "_", "-"',
      ),
    email: z.string({ error: 'expected the customer email address' }).email('expected an email address'),
    name: z.string().max(200).optional(),
    locale: z
      .string()
      .regex(/^[a-z]{2}(-[A-Za-z]{2,4})?$/, 'expected a locale such as en, zh-CN, zh-TW')
      .optional(),
    time_zone: z
      .string()
      .max(64)
      .refine(knownZone, 'expected an IANA time zone such as Asia/Shanghai')
      .optional(),
    currency: z
      .string({ error: 'expected a currency code' })
      .regex(/^[A-Z]{3}$/, 'expected a currency code such as CNY'),
    amount_cents: cents,
    items: z.array(orderItemSchema, { error: 'expected a list of items' }).default([]),
    payment_instructions: z.string().max(5000).optional(),
    shipping_terms: z.string().max(5000).optional(),
    payment_due_at: isoTime.optional(),
    created_at: isoTime.optional(),
  })
  .strict();

export type OrderInput = z.output<typeof orderInputSchema>;
export type OrderItem = z.output<typeof orderItemSchema>;

export const OrderEventTypes = ['paid', 'shipped', 'delivered', 'cancelled', 'refunded'] as const;
export type OrderEventType = (typeof OrderEventTypes)[number];

export const orderEventInputSchema = z
  .object({
    event_id: z
      .string({ error: 'expected the shop event id' })
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/,
        'expected an event id of letters, digits, ".", "_", ":", "-"',
      ),
    type: z.enum(OrderEventTypes, { error: `expected one of ${OrderEventTypes.join(', ')}` }),
    at: isoTime.optional(),
    payload: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export type OrderEventInput = z.output<typeof orderEventInputSchema>;

export interface ValidationIssue {
  path: string;
  message: string;
}

export function formatIssuePath(p: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of p) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(body)';
}

function issuesOf(err: z.ZodError): ValidationIssue[] {
  return err.issues.map((i) => {
    if (i.code === 'unrecognized_keys') {
      return { path: formatIssuePath(i.path), message: `unknown field(s): ${i.keys.join(', ')}` };
    }
    return { path: formatIssuePath(i.path), message: i.message };
  });
}

/** Parses with `schema`, or throws VALIDATION whose details.issues list every problem. */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.output<S> {
  const res = schema.safeParse(raw);
  if (res.success) return res.data;
  const issues = issuesOf(res.error);
  const first = issues[0];
  throw new MailroomError(
    ErrorCodes.VALIDATION,
    `${what} is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { issues, first },
  );
}

export function isValidationError(
  e: unknown,
): e is MailroomError & { details: { issues: ValidationIssue[] } } {
  return e instanceof MailroomError && e.code === ErrorCodes.VALIDATION && Array.isArray(e.details?.issues);
}

export function parseOrderInput(raw: unknown): OrderInput {
  return parseInput(orderInputSchema, raw, 'order');
}

export function parseOrderEventInput(raw: unknown): OrderEventInput {
  return parseInput(orderEventInputSchema, raw, 'order event');
}
