import { z } from 'zod';
import { automationsSchema } from './automations.ts';
import { timeZone } from './time-zone.ts';

/**
 * The whole mailroom.yaml, validated at start-up. Every object is strict so a misspelt key is
 * reported instead of silently ignored. Secrets are never values here: a `*_env` key names the
 * environment variable that holds them.
 */

const port = z
  .number({ error: 'expected a number 1-65535' })
  .int('expected a number 1-65535')
  .min(1, 'expected a number 1-65535')
  .max(65535, 'expected a number 1-65535');
const positiveInt = (what: string) =>
  z
    .number({ error: `expected ${what}` })
    .int(`expected ${what}`)
    .positive(`expected ${what}`);
const envName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, 'expected the name of an environment variable (A-Z, 0-9, _)');
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time "HH:MM"');

/**
 * Characters no mail header may carry: C0 controls (tab included), DEL, C1 controls (NEL among
 * them) and the Unicode line and paragraph separators (U+2028, U+2029). Config values that end up
 * in a header of every mail we send are refused at load when they hold one, so the owner fixes
 * the file once instead of every send failing later (or the value being silently changed).
 * Data from customers and staff is stripped instead, in src/outbound/header-safety.ts.
 */
const HEADER_UNSAFE_CHAR = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

const CHAR_NAMES: Record<string, string> = {
  '\u0000': 'NUL',
  '\t': 'tab',
  '\n': 'line feed',
  '\r': 'carriage return',
  '\u007f': 'DEL',
  '\u0085': 'next line',
  '\u2028': 'line separator',
  '\u2029': 'paragraph separator',
};

/** `U+2028 (line separator)`: a character people cannot see, named so they can find it. */
function describeChar(c: string): string {
  const code = (c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
  return `U+${code} (${CHAR_NAMES[c] ?? 'control character'})`;
}

/**
 * A string that goes into a mail header: refused when it holds a HEADER_UNSAFE_CHAR, else checked
 * by `syntax` (returns what was expected, or null). One check, so a bad character is reported
 * alone rather than beside the "not an email address" it also causes.
 */
function headerValue(syntax?: (v: string) => string | null) {
  return z.string().superRefine((v, ctx) => {
    const m = HEADER_UNSAFE_CHAR.exec(v);
    if (m) {
      const at = [...v.slice(0, m.index)].length + 1;
      ctx.addIssue({
        code: 'custom',
        message: `contains ${describeChar(m[0])} at character ${at}, which cannot go into a mail header: remove it`,
        input: v,
      });
      return;
    }
    const expected = syntax?.(v);
    if (expected) ctx.addIssue({ code: 'custom', message: expected, input: v });
  });
}

const DOMAIN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/i;
/** The same bare-address shape src/outbound/header-safety.ts accepts at send time. */
const ADDRESS = /^[^\s@<>",;()[\]\\]+@[^\s@<>",;()[\]\\]+$/;
/** mail.from: `Name <address@domain>` or a bare address, parsed the way outbound parses it. */
const mailboxSyntax = (v: string): string | null => {
  const m = /^\s*([\s\S]*?)\s*<([^<>]*)>\s*$/.exec(v);
  return ADDRESS.test(m ? (m[2] ?? '') : v.trim())
    ? null
    : 'expected "Name <address@domain>" or a bare address@domain';
};
const domainName = headerValue((v) =>
  DOMAIN.test(v)
    ? null
    : 'expected a domain name such as shop.example (an internationalised domain in its xn-- form)',
);
const emailAddress = headerValue((v) =>
  z.email().safeParse(v).success ? null : 'expected an email address',
);

export const Departments = ['sales', 'customer_service', 'pr', 'hr', 'finance'] as const;
export const Urgencies = ['urgent', 'normal', 'thanks'] as const;
export type Department = (typeof Departments)[number];
export type Urgency = (typeof Urgencies)[number];

const history = z
  .string()
  .regex(/^(new|all|since \d{4}-\d{2}-\d{2})$/, 'expected "new", "all" or "since YYYY-MM-DD"')
  .default('new');

const imapAccount = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'expected an id of a-z, 0-9, "-" and "_"'),
    host: z.string().min(1, 'expected a host name'),
    port: port.default(993),
    tls: z.enum(['implicit', 'starttls', 'none']).default('implicit'),
    // PEM file of the CA (or the self-signed certificate) to trust instead of the system's CAs.
    ca_file: z.string().min(1, 'expected the path of a PEM file').optional(),
    user: z.string().min(1, 'expected a user name'),
    password_env: envName.optional(),
    access_token_env: envName.optional(),
    // Read again before every connection: a token refresher outside mailroom rewrites the file.
    access_token_file: z.string().min(1, 'expected the path of a file holding the token').optional(),
    access_token_expires_at: z.iso
      .datetime({ offset: true, error: 'expected a date-time such as "2026-03-01T09:00:00Z"' })
      .optional(),
    mailboxes: z.array(z.string().min(1)).min(1).default(['INBOX']),
    after_ingest: z.enum(['leave', 'flag', 'move']).default('leave'),
    flag: z.string().min(1).default('\\Seen'),
    move_to: z.string().min(1).optional(),
    history,
    poll_interval_s: positiveInt('a whole number of seconds').default(60),
  })
  .strict();

const departmentSettings = z
  .object({
    name: headerValue((v) => (v.trim() === '' ? 'expected a name' : null)).optional(),
    reply_to: emailAddress.optional(),
    escalation: emailAddress.optional(),
  })
  .strict();

const slaTarget = z
  .object({
    first_response_h: z.number().positive('expected a number of hours > 0'),
    next_response_h: z.number().positive('expected a number of hours > 0').optional(),
    business_hours: z.boolean().default(false),
  })
  .strict();

const weekHours = z.array(z.tuple([hhmm, hhmm])).default([]);

export const configSchema = z
  .object({
    data_dir: z.string().min(1).default('./data'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    rules_dir: z.string().min(1).optional(),
    templates_dir: z.string().min(1).optional(),
    redis_url: z
      .string()
      .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
      .optional(),
    web: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: port.default(3000),
        // Links in mail and the List-Unsubscribe header are built from it.
        public_url: headerValue((v) =>
          z.url().safeParse(v).success ? null : 'expected a URL such as https://mail.example.com',
        ).optional(),
        trust_proxy: z.boolean().default(false),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 3000, trust_proxy: false }),
    mail: z
      .object({
        // In the Message-ID and X-Loop of every mail we send.
        domain: domainName.default('mailroom.local'),
        from: headerValue(mailboxSyntax).default('Customer Service <support@mailroom.local>'),
        default_department: z.enum(Departments).default('customer_service'),
        own_addresses: z.array(z.string().email()).default([]),
        auto_reply_window_h: z.number().positive().default(24),
        departments: z.partialRecord(z.enum(Departments), departmentSettings).default({}),
      })
      .strict()
      .prefault({}),
    imap: z
      .object({
        max_message_bytes: positiveInt('a number of bytes').default(25 * 1024 * 1024),
        batch_size: positiveInt('a number of messages').default(200),
        accounts: z.array(imapAccount).default([]),
      })
      .strict()
      .prefault({}),
    smtp: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: port.default(25),
        tls: z.enum(['implicit', 'starttls', 'none']).default('none'),
        user: z.string().optional(),
        password_env: envName.optional(),
        max_connections: positiveInt('a number of connections').default(2),
        rate_per_second: z.number().positive().optional(),
        timeout_s: positiveInt('a number of seconds').default(60),
        dkim: z
          .object({
            // d= and s= of the DKIM-Signature header.
            domain: domainName,
            selector: headerValue((v) =>
              DOMAIN.test(v) ? null : 'expected a DKIM selector such as mail2026 (letters, digits, "-", ".")',
            ),
            private_key_file: z.string().min(1),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    lists: z
      .object({
        rate_per_second: z.number().positive('expected a number of mails per second > 0').default(20),
        per_domain_per_second: z.number().positive('expected a number of mails per second > 0').default(5),
        bounce_threshold: z.number().gt(0).lt(1).default(0.05),
        complaint_threshold: z.number().gt(0).lt(1).default(0.001),
        threshold_min_sample: positiveInt('a number of sends').default(100),
        soft_bounce_limit: positiveInt('a number of soft bounces').default(3),
        soft_bounce_window_days: positiveInt('a number of days').default(30),
        confirm_ttl_days: positiveInt('a number of days').default(7),
      })
      .strict()
      .prefault({}),
    queue: z
      .object({
        concurrency: positiveInt('a number of jobs').default(4),
        attempts: positiveInt('a number of attempts').default(8),
      })
      .strict()
      .prefault({}),
    sla: z
      .object({
        time_zone: timeZone.default('UTC'),
        warning_fraction: z.number().gt(0).lt(1).default(0.2),
        scan_interval_s: positiveInt('a number of seconds').default(60),
        hours: z
          .object({
            mon: weekHours,
            tue: weekHours,
            wed: weekHours,
            thu: weekHours,
            fri: weekHours,
            sat: weekHours,
            sun: weekHours,
          })
          .strict()
          .partial()
          .default({}),
        holidays: z
          .array(
            z
              .string()
              .regex(
                /^\d{4}-\d{2}-\d{2}(\.\.\d{4}-\d{2}-\d{2})?$/,
                'expected "YYYY-MM-DD" or "YYYY-MM-DD..YYYY-MM-DD"',
              ),
          )
          .default([]),
        targets: z
          .object({
            urgent: slaTarget.optional(),
            normal: slaTarget.optional(),
            thanks: slaTarget.optional(),
          })
          .strict()
          .default({}),
        departments: z
          .partialRecord(
            z.enum(Departments),
            z
              .object({
                urgent: slaTarget.optional(),
                normal: slaTarget.optional(),
                thanks: slaTarget.optional(),
              })
              .strict(),
          )
          .default({}),
      })
      .strict()
      .prefault({}),
    automations: automationsSchema.prefault({}),
    secrets: z
      .object({
        session_secret_env: envName.default('MAILROOM_SESSION_SECRET'),
        api_key_env: envName.default('MAILROOM_API_KEY'),
        // Bearer token a Prometheus scraper sends to GET /metrics (admins may also open it logged in).
        metrics_token_env: envName.default('MAILROOM_METRICS_TOKEN'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type RawConfig = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
export type ImapAccountConfig = ParsedConfig['imap']['accounts'][number];
