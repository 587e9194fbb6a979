import type { z } from 'zod';
import { configSchema } from './schema.ts';

/** What each key is for; the reference table is generated from the schema plus these words. */
export const KEY_DOCS: Record<string, string> = {
  data_dir: 'Folder for the SQLite database, raw mail and attachments (env `MAILROOM_DATA_DIR`).',
  log_level: 'Log level (env `MAILROOM_LOG_LEVEL`).',
  rules_dir: 'Folder of rules/*.yaml; default: the rules shipped with mailroom (env `MAILROOM_RULES_DIR`).',
  templates_dir:
    'Folder of mail templates; default: the templates shipped with mailroom (env `MAILROOM_TEMPLATES_DIR`).',
  redis_url: 'Use BullMQ on this Redis instead of the embedded queue (env `MAILROOM_REDIS_URL`).',
  web: 'The staff web UI and public pages.',
  'web.host': 'Address to listen on (env `MAILROOM_HOST`).',
  'web.port': 'Port to listen on (env `MAILROOM_PORT`).',
  'web.public_url':
    'Public base URL used in links in mail (unsubscribe, confirm) (env `MAILROOM_PUBLIC_URL`).',
  'web.trust_proxy': 'Trust X-Forwarded-* from a reverse proxy (and mark cookies Secure behind TLS).',
  mail: 'Addresses and domain of the mail mailroom sends.',
  'mail.domain': 'Domain of our Message-IDs and X-Loop header (env `MAILROOM_MAIL_DOMAIN`).',
  'mail.from': 'From address of mail mailroom sends (env `MAILROOM_MAIL_FROM`).',
  'mail.default_department': 'Department for mail no rule sorts.',
  'mail.own_addresses': 'Our own addresses: mail from them is never answered automatically.',
  'mail.auto_reply_window_h': 'A sender gets at most one automatic acknowledgement per this many hours.',
  'mail.departments':
    'Per department (sales, customer_service, pr, hr, finance): name, reply_to, escalation address.',
  imap: 'Mailboxes to read customer mail from.',
  'imap.max_message_bytes': 'Larger messages are stored as headers plus an `oversize` flag.',
  'imap.batch_size': 'Messages fetched per UID window.',
  'imap.accounts': 'IMAP accounts; see the account keys below.',
  'imap.accounts[].id': 'Short unique id of the account (used in checkpoints and logs).',
  'imap.accounts[].host': 'IMAP server host.',
  'imap.accounts[].port': 'IMAP server port.',
  'imap.accounts[].tls': '`implicit` (port 993), `starttls`, or `none` (loopback only).',
  'imap.accounts[].ca_file':
    'PEM file of the CA (or self-signed certificate) to trust for this server instead of the system CAs, for `implicit` and `starttls`; the certificate chain and host name are still checked. A path relative to the config file.',
  'imap.accounts[].user': 'Login user name.',
  'imap.accounts[].password_env': 'Environment variable holding the password.',
  'imap.accounts[].access_token_env': 'Environment variable holding an OAuth2 access token (XOAUTH2).',
  'imap.accounts[].access_token_file':
    "File holding an OAuth2 access token (XOAUTH2), read again before every connection: access tokens expire within hours, so let a refresher (your identity provider's CLI, a cron job) rewrite it. A path relative to the config file.",
  'imap.accounts[].access_token_expires_at':
    "When that access token expires (e.g. `2026-03-01T09:00:00Z`), shown on the admin health page; a JWT token's own `exp` is read when this is not set.",
  'imap.accounts[].mailboxes': 'Mailboxes to watch.',
  'imap.accounts[].after_ingest': '`leave` (track by UID), `flag` (set `flag`), or `move` (to `move_to`).',
  'imap.accounts[].flag': 'Flag or keyword set with `after_ingest: flag`.',
  'imap.accounts[].move_to': 'Folder mail is moved to with `after_ingest: move`.',
  'imap.accounts[].history':
    '`new` (only mail arriving from now on), `all`, or `since YYYY-MM-DD` on first connect.',
  'imap.accounts[].poll_interval_s':
    'Seconds between polls when the server has no IDLE, and between safety re-syncs.',
  smtp: 'The SMTP server mailroom sends through.',
  'smtp.host': 'SMTP host (env `MAILROOM_SMTP_HOST`).',
  'smtp.port': 'SMTP port (env `MAILROOM_SMTP_PORT`).',
  'smtp.tls': '`implicit` (465), `starttls` (587), or `none`.',
  'smtp.user': 'SMTP login user, if the server wants one.',
  'smtp.password_env': 'Environment variable holding the SMTP password.',
  'smtp.max_connections': 'Pooled SMTP connections per process (env `MAILROOM_SMTP_MAX_CONNECTIONS`).',
  'smtp.rate_per_second': 'Messages per second per process (the queue limiter caps it globally).',
  'smtp.timeout_s': 'Seconds before a stalled SMTP conversation is abandoned and retried.',
  'smtp.dkim': 'DKIM signing: domain, selector, private_key_file.',
  'smtp.dkim.domain': 'Signing domain (d=).',
  'smtp.dkim.selector': 'Selector (s=).',
  'smtp.dkim.private_key_file': 'PEM private key file.',
  lists: 'Mailing-list campaigns: throttles and the bounce/complaint rules that pause them.',
  'lists.rate_per_second': 'Campaign mails per second overall; the limit survives a restart.',
  'lists.per_domain_per_second': 'Campaign mails per second to one recipient domain (gmail.com, qq.com ...).',
  'lists.bounce_threshold':
    'Hard-bounce share that pauses a campaign (0.05 = 5%), with a notice to the marketer.',
  'lists.complaint_threshold': 'Complaint share that pauses a campaign (0.001 = 0.1%).',
  'lists.threshold_min_sample':
    'Sends before the pause thresholds are judged (1 bounce in 3 is not a trend).',
  'lists.soft_bounce_limit': 'Soft bounces within the window that suppress an address.',
  'lists.soft_bounce_window_days': 'The window soft bounces are counted in.',
  'lists.confirm_ttl_days': 'How long a double opt-in confirmation link stays valid.',
  queue: 'Send workers.',
  'queue.concurrency': 'Jobs a worker process runs at once.',
  'queue.attempts': 'Tries per job before it fails for good.',
  sla: 'Response-time targets and the business calendar.',
  'sla.time_zone': 'IANA time zone of the business calendar.',
  'sla.warning_fraction': 'Warn when this fraction of the target is left.',
  'sla.scan_interval_s': 'Seconds between SLA breach scans.',
  'sla.hours':
    'Opening hours per weekday (`mon`..`sun`), e.g. `[["09:00", "18:00"]]`, counted by targets with `business_hours: true`; none at all = around the clock.',
  'sla.holidays': 'Closed days: `YYYY-MM-DD` or ranges `YYYY-MM-DD..YYYY-MM-DD`.',
  'sla.targets':
    'Per urgency: `first_response_h` (defaults urgent 4 h, normal 24 h, thanks 72 h), `next_response_h` (default: `first_response_h`), `business_hours` (default `false`: hours count around the clock; `true`: only `sla.hours` outside `sla.holidays` count).',
  'sla.departments': 'Per department, overrides of `sla.targets`.',
  automations: "Mail written at the right moment of an order's life.",
  'automations.enabled': 'Turns every automation on or off.',
  'automations.time_zone': 'Time zone for customers without one (default: `sla.time_zone`).',
  'automations.default_locale': 'Template locale for customers without one.',
  'automations.scan_every_min': 'Minutes between scans for follow-ups and for orders stored without a queue.',
  'automations.quiet_hours':
    'No automatic mail between `start` and `end` ("HH:MM", customer\'s local time); `null` turns it off.',
  'automations.quiet_hours.start': 'Start of quiet hours.',
  'automations.quiet_hours.end': 'End of quiet hours.',
  'automations.confirmation': 'Order confirmation right after the order is created.',
  'automations.confirmation.enabled': 'Send it.',
  'automations.confirmation.template': 'Template name.',
  'automations.payment_reminder': 'Polite reminders while an order is unpaid.',
  'automations.payment_reminder.enabled': 'Send them.',
  'automations.payment_reminder.template': 'Template name.',
  'automations.payment_reminder.after_days': 'Days unpaid before the first reminder (and between reminders).',
  'automations.payment_reminder.max': 'Reminders per order at most.',
  'automations.payment_reminder.deadline_days':
    'Payment deadline named in a reminder when the shop gave none.',
  'automations.follow_up': 'Follow-up when the customer has not answered us.',
  'automations.follow_up.enabled': 'Do it.',
  'automations.follow_up.template': 'Template name.',
  'automations.follow_up.after_days': 'Days of silence from the customer before the follow-up.',
  'automations.follow_up.mode': '`mail` to the customer, or `task` ("call the customer") in the staff inbox.',
  'automations.follow_up.task_departments': 'Departments whose follow-ups are always staff tasks.',
  'automations.follow_up.max': 'Follow-ups per conversation until the customer writes again.',
  'automations.review_request': 'Review request after delivery.',
  'automations.review_request.enabled': 'Send it.',
  'automations.review_request.template': 'Template name.',
  'automations.review_request.after_days': 'Days after delivery.',
  secrets: 'Names of the environment variables holding secrets.',
  'secrets.session_secret_env': 'Holds the web session secret (default: a random one kept in the data dir).',
  'secrets.api_key_env': 'Holds the API key of the order events API.',
  'secrets.metrics_token_env': 'Holds the bearer token a Prometheus scraper sends to `GET /metrics`.',
};

/** Keys documented as one row: their inner keys are explained in that row's text. */
const COLLAPSED = new Set(['sla.hours', 'sla.targets', 'sla.departments', 'mail.departments']);

interface Row {
  key: string;
  type: string;
  default: string;
}

type AnyDef = { type: string; [k: string]: unknown };
const defOf = (s: z.ZodType): AnyDef => (s as unknown as { _zod: { def: AnyDef } })._zod.def;

function unwrap(s: z.ZodType): { schema: z.ZodType; dflt: unknown } {
  let cur = s;
  let dflt: unknown;
  for (;;) {
    const d = defOf(cur);
    if (d.type === 'default' || d.type === 'prefault') {
      if (dflt === undefined)
        dflt = typeof d.defaultValue === 'function' ? (d.defaultValue as () => unknown)() : d.defaultValue;
      cur = d.innerType as z.ZodType;
    } else if (d.type === 'optional' || d.type === 'nullable') cur = d.innerType as z.ZodType;
    else return { schema: cur, dflt };
  }
}

function typeName(s: z.ZodType): string {
  const d = defOf(s);
  switch (d.type) {
    case 'enum':
      return Object.values(d.entries as Record<string, string>)
        .map((v) => `\`${v}\``)
        .join(' \\| ');
    case 'array':
      return `list of ${typeName(unwrap(d.element as z.ZodType).schema)}`;
    case 'object':
      return 'mapping';
    case 'record':
      return 'mapping';
    case 'tuple':
      return 'pair';
    default:
      return d.type;
  }
}

function walk(s: z.ZodType, prefix: string, rows: Row[]): void {
  const { schema } = unwrap(s);
  const d = defOf(schema);
  if (d.type === 'object') {
    for (const [k, child] of Object.entries(d.shape as Record<string, z.ZodType>)) {
      const key = prefix ? `${prefix}.${k}` : k;
      const u = unwrap(child);
      const inner = defOf(u.schema);
      const shown =
        u.dflt === undefined ||
        inner.type === 'object' ||
        (typeof u.dflt === 'object' && Object.keys(u.dflt ?? {}).length === 0)
          ? ''
          : `\`${JSON.stringify(u.dflt)}\``;
      rows.push({ key, type: typeName(u.schema), default: shown });
      if (inner.type === 'object' && !COLLAPSED.has(key)) walk(u.schema, key, rows);
      if (inner.type === 'array') {
        const el = unwrap(inner.element as z.ZodType).schema;
        if (defOf(el).type === 'object') walk(el, `${key}[]`, rows);
      }
    }
  }
}

export function configKeys(): Row[] {
  const rows: Row[] = [];
  walk(configSchema, '', rows);
  return rows;
}

/** The configuration reference as a Markdown table, for the README. */
export function configReferenceMarkdown(): string {
  const lines = ['| key | type | default | what it is |', '|---|---|---|---|'];
  for (const r of configKeys())
    lines.push(`| \`${r.key}\` | ${r.type} | ${r.default} | ${KEY_DOCS[r.key] ?? ''} |`);
  return lines.join('\n');
}
