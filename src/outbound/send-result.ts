import type { Clock, Logger } from '../lib/index.ts';
import type { Job, JobEvents } from '../queue/index.ts';
import { type Db, prepareCached } from '../store/index.ts';
import type { SendJobData } from './outbox.ts';
import type { SmtpFailure } from './smtp-transport.ts';
import { addSuppression } from './suppressions.ts';

/**
 * Recording what happened to a send, in the process that owns the SQLite file. In-process workers
 * call these directly; results of BullMQ workers on other machines arrive through the queue's
 * listen() events (outboxResultEvents) and are recorded here, so SQLite keeps one writer.
 */

export interface SendResult {
  outboxId: number;
  messageId: string;
  status: 'sent' | 'uncertain' | 'skipped';
  response?: string;
}

/**
 * A recipient that does not exist (RFC 3463 X.1.x, or any 5xx to RCPT TO): mail to it can never
 * arrive. Policy rejections (X.7.x: spam, DMARC) are about the message, not the address.
 */
export function isHardRecipientFailure(f: SmtpFailure): boolean {
  if (f.responseCode === undefined || f.responseCode < 500) return false;
  if (/\b5\.7\.\d{1,3}\b/.test(f.response)) return false;
  return (
    /RCPT/i.test(f.command ?? '') || /\b5\.1\.\d{1,3}\b/.test(f.response) || /\b5\.2\.1\b/.test(f.response)
  );
}

export function markSent(db: Db, clock: Clock, outboxId: number, response: string): void {
  const now = clock.now();
  prepareCached(
    db,
    `UPDATE outbox SET status = 'sent', send_stage = 'done', last_response = ?, sent_at = ?, updated_at = ?
     WHERE id = ? AND status != 'sent'`,
  ).run(response.slice(0, 1000), now, now, outboxId);
}

/** The server may have the mail (a crash or a lost connection after DATA): never resent. */
export function markUncertain(db: Db, clock: Clock, outboxId: number, why: string): void {
  prepareCached(
    db,
    "UPDATE outbox SET status = 'uncertain', last_response = ?, updated_at = ? WHERE id = ? AND status NOT IN ('sent', 'uncertain')",
  ).run(why.slice(0, 1000), clock.now(), outboxId);
}

export function markFailed(
  db: Db,
  clock: Clock,
  logger: Logger,
  outboxId: number,
  failure: SmtpFailure,
): void {
  const now = clock.now();
  const changed = db
    .prepare(
      `UPDATE outbox SET status = 'failed', send_stage = 'none', last_response = ?, updated_at = ?
       WHERE id = ? AND status NOT IN ('sent', 'uncertain', 'failed')`,
    )
    .run(failure.response.slice(0, 1000), now, outboxId).changes;
  if (changed === 0) return;
  const row = db.prepare('SELECT to_addr FROM outbox WHERE id = ?').get(outboxId) as
    | { to_addr: string }
    | undefined;
  const hard = isHardRecipientFailure(failure);
  if (row && hard) {
    addSuppression(db, {
      address: row.to_addr,
      reason: 'hard_bounce',
      source: `smtp:outbox-${outboxId}`,
      detail: failure.response.slice(0, 500),
      at: now,
    });
  }
  logger.warn({ outboxId, responseCode: failure.responseCode, suppressed: hard }, 'mail failed for good');
}

/** The remote worker's error text, `SMTP 550 (RCPT TO): response`, read back into a failure. */
export function failureFromMessage(message: string): SmtpFailure {
  const m = /^SMTP (\d{3})(?: \(([^)]*)\))?: ([\s\S]*)$/.exec(message);
  if (!m) return { responseCode: undefined, response: message, command: undefined, code: undefined };
  return { responseCode: Number(m[1]), command: m[2] || undefined, response: m[3] ?? '', code: undefined };
}

export function failureMessage(f: SmtpFailure): string {
  return f.responseCode
    ? `SMTP ${f.responseCode}${f.command ? ` (${f.command.replace(/[()]/g, '')})` : ''}: ${f.response}`
    : f.response;
}

/**
 * Events for `queue.listen(OUTBOUND_QUEUE, ...)`. Wire them in the process that owns the database,
 * whichever driver runs: with in-process workers the rows are already recorded and these are no-ops.
 */
export function outboxResultEvents(deps: { db: Db; clock: Clock; logger: Logger }): JobEvents<SendResult> {
  /**
   * A job that carries its message (BullMQ) was sent by a worker that cannot write the database,
   * so its tries are counted here, once per job, when its result arrives. The embedded send
   * handler counts each try itself.
   */
  const countTries = (job: Job) => {
    const data = job.data as SendJobData;
    if (data.raw === undefined) return;
    prepareCached(deps.db, 'UPDATE outbox SET attempts = attempts + ? WHERE id = ?').run(
      Math.max(1, job.attempt),
      data.outboxId,
    );
  };
  return {
    completed(job: Job, result: SendResult) {
      if (result?.status === 'sent') markSent(deps.db, deps.clock, result.outboxId, result.response ?? '');
      else if (result?.status === 'uncertain')
        markUncertain(deps.db, deps.clock, result.outboxId, result.response ?? 'outcome unknown after DATA');
      countTries(job);
    },
    failed(job: Job, error: Error) {
      const data = job.data as SendJobData;
      markFailed(deps.db, deps.clock, deps.logger, data.outboxId, failureFromMessage(error.message));
      countTries(job);
    },
  };
}
