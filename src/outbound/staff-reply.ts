import type { Department } from '../config/index.ts';
import { ErrorCodes, MailroomError } from '../lib/index.ts';
import { type OutboxDeps, type QueuedMail, queueMail } from './outbox.ts';

/**
 * A staff member's answer in a conversation: the same compose/outbox/queue path as every other
 * mail, threaded onto the customer's last message so it lands in the same thread in their client.
 */

export interface StaffReplyInput {
  conversationId: number;
  author: string;
  text: string;
  html?: string | undefined;
  /** Makes a double-clicked "send" one mail; default: a fresh key per call. */
  idempotencyKey?: string | undefined;
}

interface LastInbound {
  message_id: string;
  refs: string;
  from_addr: string | null;
  from_name: string | null;
  subject: string;
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

export function textToHtml(text: string): string {
  return text
    .split(/\n{2,}/)
    .map((p) => `<p>${escapeHtml(p).replace(/\n/g, '<br>')}</p>`)
    .join('\n');
}

export function replySubject(subject: string): string {
  const s = subject.trim();
  return /^(re|回复|回覆|答复|答覆)\s*[:：]/i.test(s) ? s : `Re: ${s}`;
}

export async function sendStaffReply(deps: OutboxDeps, input: StaffReplyInput): Promise<QueuedMail> {
  const { db } = deps;
  if (!input.text.trim())
    throw new MailroomError(ErrorCodes.VALIDATION, 'the reply is empty; write something before sending');
  const conv = db
    .prepare(
      `SELECT c.id, c.subject, c.department, c.customer_id, cu.email, cu.name
       FROM conversations c LEFT JOIN customers cu ON cu.id = c.customer_id WHERE c.id = ?`,
    )
    .get(input.conversationId) as
    | {
        id: number;
        subject: string;
        department: Department;
        customer_id: number | null;
        email: string | null;
        name: string | null;
      }
    | undefined;
  if (!conv)
    throw new MailroomError(ErrorCodes.NOT_FOUND, `conversation ${input.conversationId} does not exist`);
  const last = db
    .prepare(
      `SELECT message_id, refs, from_addr, from_name, subject FROM messages
       WHERE conversation_id = ? AND direction = 'in' ORDER BY received_at DESC, id DESC LIMIT 1`,
    )
    .get(conv.id) as LastInbound | undefined;
  const to = last?.from_addr ?? conv.email;
  if (!to)
    throw new MailroomError(
      ErrorCodes.VALIDATION,
      `conversation ${conv.id} has no customer address to reply to`,
    );
  const refs = last ? (JSON.parse(last.refs) as string[]) : [];
  return queueMail(deps, {
    kind: 'staff_reply',
    idempotencyKey:
      input.idempotencyKey ??
      `reply-${conv.id}-${deps.clock.now()}-${Math.random().toString(36).slice(2, 10)}`,
    to,
    toName: conv.name ?? last?.from_name ?? null,
    subject: replySubject(last?.subject || conv.subject),
    text: input.text.endsWith('\n') ? input.text : `${input.text}\n`,
    html: input.html ?? textToHtml(input.text),
    department: conv.department,
    conversationId: conv.id,
    inReplyTo: last?.message_id ?? null,
    references: refs,
    customerId: conv.customer_id,
    author: input.author,
  });
}
