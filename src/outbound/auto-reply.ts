import type { Config, Department } from '../config/index.ts';
import type { Db } from '../store/index.ts';
import { type AutoReplyDecision, addressOf, autoReplyDecision } from './auto-reply-policy.ts';
import { lastAutoReplyTo, type OutboxDeps, type QueuedMail, queueMail } from './outbox.ts';
import type { TemplateRenderer } from './templates.ts';

/** Sending the acknowledgement a rule asked for (`auto_reply: acknowledgement`), if the policy allows. */

export interface AutoReplyDeps extends OutboxDeps {
  renderer: TemplateRenderer;
  config: Pick<Config, 'mail'>;
}

export interface AutoReplyInput {
  /** messages.id of the inbound message being answered. */
  messageId: number;
  template: string;
  /** Extra template data, e.g. expected_answer_at from the SLA clock. */
  data?: Record<string, unknown>;
}

interface InboundRow {
  id: number;
  conversation_id: number;
  message_id: string;
  refs: string;
  from_addr: string | null;
  from_name: string | null;
  subject: string;
  headers: string;
  flags: string;
  department: Department;
  customer_name: string | null;
  customer_locale: string | null;
  customer_tz: string | null;
  customer_id: number | null;
}

export function ownAddresses(config: Pick<Config, 'mail'>): string[] {
  return [...config.mail.own_addresses, addressOf(config.mail.from)];
}

export function autoReplyVerdict(
  db: Db,
  config: Pick<Config, 'mail'>,
  now: number,
  msg: { from: string | null; flags: string[]; headers?: Record<string, string[] | string | undefined> },
): AutoReplyDecision {
  const windowMs = config.mail.auto_reply_window_h * 3_600_000;
  const from = msg.from ? addressOf(msg.from) : '';
  const last = from ? lastAutoReplyTo(db, from, now - windowMs) : null;
  return autoReplyDecision(
    msg,
    { ownAddresses: ownAddresses(config), domain: config.mail.domain, windowMs },
    last,
    now,
  );
}

export async function sendAutoReply(
  deps: AutoReplyDeps,
  input: AutoReplyInput,
): Promise<{ sent: true; mail: QueuedMail } | { sent: false; reason: string }> {
  const row = deps.db
    .prepare(
      `SELECT m.id, m.conversation_id, m.message_id, m.refs, m.from_addr, m.from_name, m.subject, m.headers, m.flags,
              c.department, cu.name AS customer_name, cu.locale AS customer_locale, cu.time_zone AS customer_tz,
              cu.id AS customer_id
       FROM messages m JOIN conversations c ON c.id = m.conversation_id
       LEFT JOIN customers cu ON cu.id = c.customer_id WHERE m.id = ? AND m.direction = 'in'`,
    )
    .get(input.messageId) as InboundRow | undefined;
  if (!row) return { sent: false, reason: `no inbound message ${input.messageId}` };
  const now = deps.clock.now();
  const verdict = autoReplyVerdict(deps.db, deps.config, now, {
    from: row.from_addr,
    flags: JSON.parse(row.flags) as string[],
    headers: JSON.parse(row.headers) as Record<string, string[]>,
  });
  if (!verdict.send) {
    deps.logger.info({ messageId: row.id, reason: verdict.reason }, 'auto-reply not sent');
    return { sent: false, reason: verdict.reason };
  }
  const rendered = deps.renderer.renderTemplate(input.template, row.customer_locale, {
    customer: { name: row.customer_name ?? row.from_name ?? null, email: row.from_addr },
    conversation: { id: row.conversation_id, reference: `MR-${row.conversation_id}`, subject: row.subject },
    ...(row.customer_tz ? { time_zone: row.customer_tz } : {}),
    ...(input.data ?? {}),
  });
  const mail = await queueMail(deps, {
    kind: rendered.template,
    idempotencyKey: `auto-${row.id}`,
    to: row.from_addr as string,
    toName: row.customer_name ?? row.from_name,
    subject: rendered.subject,
    html: rendered.html,
    text: rendered.text,
    department: row.department,
    conversationId: row.conversation_id,
    inReplyTo: row.message_id,
    references: JSON.parse(row.refs) as string[],
    automatic: 'auto-replied',
    customerId: row.customer_id,
  });
  return { sent: true, mail };
}
