import type { Clock, Logger } from '../lib/index.ts';
import type { JobQueue } from '../queue/index.ts';
import { type Db, inTransaction, prepareCached } from '../store/index.ts';
import { type ComposedMail, type ComposeInput, type ComposeSettings, composeMail } from './compose.ts';
import { isSuppressed } from './suppressions.ts';

/**
 * The outbox: every mail is a row before it is queued, so a crash between "decided to send" and
 * "sent" leaves a record, and the idempotency key makes a second request for the same mail a no-op.
 */

export const OUTBOUND_QUEUE = 'outbound';
export const SEND_JOB = 'send';

export type OutboxStatus = 'queued' | 'sending' | 'sent' | 'failed' | 'uncertain' | 'suppressed';
export type SendStage = 'none' | 'connecting' | 'data_sent' | 'done';

export interface OutboxRow {
  id: number;
  kind: string;
  category: 'transactional' | 'marketing';
  automatic: 'auto-replied' | 'auto-generated' | null;
  conversation_id: number | null;
  customer_id: number | null;
  to_addr: string;
  from_addr: string;
  envelope_from: string;
  subject: string;
  message_id: string;
  raw: Buffer;
  status: OutboxStatus;
  send_stage: SendStage;
  attempts: number;
  last_response: string | null;
  idempotency_key: string;
  created_at: number;
  sent_at: number | null;
  updated_at: number;
}

/** What a send job carries. `raw` (base64) is there for BullMQ workers that cannot read SQLite. */
export interface SendJobData {
  outboxId: number;
  messageId: string;
  envelope: { from: string; to: string[] };
  raw?: string;
}

export interface OutboxDeps {
  db: Db;
  queue: JobQueue;
  clock: Clock;
  logger: Logger;
  compose: ComposeSettings;
}

export interface QueueMailInput extends ComposeInput {
  /** Template name, 'staff_reply', ... — what the mail is, for reports. */
  kind: string;
  /** Same key, same mail: a second call returns the first row and sends nothing new. */
  idempotencyKey: string;
  category?: 'transactional' | 'marketing';
  customerId?: number | null;
  /** Staff user for replies; stored on the conversation's outgoing message. */
  author?: string | null;
}

export interface QueuedMail {
  outboxId: number;
  messageId: string;
  status: OutboxStatus;
  /** False when the idempotency key was already in the outbox. */
  created: boolean;
}

export function getOutbox(db: Db, id: number): OutboxRow | undefined {
  return prepareCached(db, 'SELECT * FROM outbox WHERE id = ?').get(id) as OutboxRow | undefined;
}

export function getOutboxByKey(db: Db, key: string): OutboxRow | undefined {
  return prepareCached(db, 'SELECT * FROM outbox WHERE idempotency_key = ?').get(key) as
    | OutboxRow
    | undefined;
}

/** Queue job ids may not contain ':' nor be all digits (BullMQ); derived from the row so re-queueing dedupes. */
export function sendJobId(outboxId: number): string {
  return `outbox-${outboxId}`;
}

/** What the send job of an outbox row carries (the raw message too, for BullMQ workers). */
export function jobData(
  queue: JobQueue,
  row: Pick<OutboxRow, 'id' | 'message_id' | 'envelope_from' | 'to_addr' | 'raw'>,
) {
  const data: SendJobData = {
    outboxId: row.id,
    messageId: row.message_id,
    envelope: { from: row.envelope_from, to: [row.to_addr] },
  };
  if (queue.driver === 'bullmq') data.raw = Buffer.from(row.raw).toString('base64');
  return data;
}

function insertRow(db: Db, input: QueueMailInput, mail: ComposedMail, status: OutboxStatus, now: number) {
  return Number(
    prepareCached(
      db,
      `INSERT INTO outbox (kind, category, automatic, conversation_id, customer_id, to_addr, from_addr, envelope_from,
           subject, message_id, raw, status, idempotency_key, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      input.kind,
      input.category ?? 'transactional',
      input.automatic ?? null,
      input.conversationId ?? null,
      input.customerId ?? null,
      mail.to.toLowerCase(),
      mail.from,
      mail.envelope.from,
      mail.subject,
      mail.messageId,
      mail.raw,
      status,
      input.idempotencyKey,
      now,
      now,
    ).lastInsertRowid,
  );
}

/** The outgoing mail as a conversation message, so the inbox and threading see it. */
function insertConversationMessage(db: Db, input: QueueMailInput, mail: ComposedMail, now: number): void {
  if (input.conversationId === null || input.conversationId === undefined) return;
  const refs = [...(input.references ?? [])];
  if (input.inReplyTo && !refs.includes(input.inReplyTo)) refs.push(input.inReplyTo);
  prepareCached(
    db,
    `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, in_reply_to, refs, from_addr, to_addrs,
       subject, sent_at, received_at, text_body, html_body, headers, flags, size, source, author)
     VALUES (?, 'out', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    input.conversationId,
    mail.messageId,
    `out:${mail.messageId}`,
    input.inReplyTo ?? null,
    JSON.stringify(refs),
    mail.from,
    JSON.stringify([mail.to]),
    mail.subject,
    now,
    now,
    input.text,
    input.html,
    JSON.stringify(input.automatic ? { 'auto-submitted': input.automatic } : {}),
    JSON.stringify(input.automatic ? ['auto_reply'] : []),
    mail.raw.length,
    `outbox:${input.kind}`,
    input.author ?? null,
  );
  prepareCached(db, 'UPDATE conversations SET last_message_at = max(last_message_at, ?) WHERE id = ?').run(
    now,
    input.conversationId,
  );
}

/**
 * Composes the mail, records it (outbox row + conversation message) in one transaction, and queues
 * the send: in that same transaction when the queue keeps its jobs in this database (embedded: row
 * and job commit together, one commit per mail), else right after the commit. A crash after the
 * commit but before such a later enqueue is repaired by calling again with the same key (the row
 * exists, and a still-queued row is queued again under the same job id) or by the outbox relay.
 */
export async function queueMail(deps: OutboxDeps, input: QueueMailInput): Promise<QueuedMail> {
  const { db, queue, clock, logger } = deps;
  const existing = getOutboxByKey(db, input.idempotencyKey);
  if (existing) {
    if (existing.status === 'queued')
      await queue.enqueue(OUTBOUND_QUEUE, SEND_JOB, jobData(queue, existing), {
        jobId: sendJobId(existing.id),
      });
    return { outboxId: existing.id, messageId: existing.message_id, status: existing.status, created: false };
  }
  const mail = await composeMail(deps.compose, { ...input, date: input.date ?? new Date(clock.now()) });
  const suppressed = isSuppressed(db, mail.to, input.category ?? 'transactional');
  const now = clock.now();
  const sendJob = (id: number, messageId: string) =>
    jobData(queue, {
      id,
      message_id: messageId,
      envelope_from: mail.envelope.from,
      to_addr: mail.to.toLowerCase(),
      raw: mail.raw,
    });
  const result = inTransaction(db, () => {
    // Checked again inside the write lock: two callers racing on one key must not both insert.
    const raced = getOutboxByKey(db, input.idempotencyKey);
    if (raced)
      return {
        id: raced.id,
        messageId: raced.message_id,
        status: raced.status,
        created: false,
        enqueued: false,
        // The row that won the race, with its own message (not the one composed here).
        job: jobData(queue, raced),
      };
    const status: OutboxStatus = suppressed ? 'suppressed' : 'queued';
    const id = insertRow(db, input, mail, status, now);
    if (!suppressed) insertConversationMessage(db, input, mail, now);
    // Embedded: the job goes in with the row, one commit for both; other drivers decline (null).
    const jobId = suppressed
      ? null
      : queue.enqueueInTransaction?.(db, OUTBOUND_QUEUE, SEND_JOB, sendJob(id, mail.messageId), {
          jobId: sendJobId(id),
        });
    const enqueued = typeof jobId === 'string';
    return { id, messageId: mail.messageId, status, created: true, enqueued, job: null };
  });
  if (result.status === 'queued' && !result.enqueued) {
    await queue.enqueue(OUTBOUND_QUEUE, SEND_JOB, result.job ?? sendJob(result.id, result.messageId), {
      jobId: sendJobId(result.id),
    });
  }
  // One info line per mail is the send's ('mail sent'); queueing is debug detail.
  const line = { outboxId: result.id, kind: input.kind, status: result.status, created: result.created };
  if (result.status === 'suppressed') logger.info(line, 'mail suppressed');
  else logger.debug(line, 'mail queued');
  return { outboxId: result.id, messageId: result.messageId, status: result.status, created: result.created };
}

/** Whether we sent `to` an automatic reply since `since` (the auto-reply window). */
export function lastAutoReplyTo(db: Db, to: string, since: number): number | null {
  const row = prepareCached(
    db,
    `SELECT max(created_at) AS at FROM outbox WHERE to_addr = ? AND automatic IS NOT NULL AND created_at >= ?
       AND status != 'suppressed'`,
  ).get(to.trim().toLowerCase(), since) as { at: number | null };
  return row.at;
}
