import { Readable } from 'node:stream';
import { type Clock, ErrorCodes, type Logger, MailroomError } from '../lib/index.ts';
import { type JobHandler, PermanentJobError, RetryLaterError } from '../queue/index.ts';
import { type Db, prepareCached } from '../store/index.ts';
import { getOutbox, type SendJobData } from './outbox.ts';
import { failureMessage, markFailed, markSent, markUncertain, type SendResult } from './send-result.ts';
import { type SmtpFailure, type SmtpSender, smtpFailureOf } from './smtp-transport.ts';

/**
 * Sending one outbox row, exactly once.
 *
 * The message is streamed to nodemailer from a Readable that, right before it hands over the last
 * chunk of DATA, commits send_stage = 'data_sent'. If the process dies:
 *   - before that commit, the server never saw the end of DATA and discards the partial message
 *     (RFC 5321 §4.1.1.4): the retry resends;
 *   - after it, the server may have accepted the mail: the retry does NOT resend, it marks the row
 *     'uncertain' (presumed delivered) and logs it. A lost mail in that narrow window is the price of
 *     never sending a customer the same mail twice.
 *
 * Where each part runs:
 *   - createSendHandler: the worker in the process that owns SQLite (embedded driver, or BullMQ
 *     workers started by `mailroom start`): stages, sends and records.
 *   - createRemoteSendHandler: `mailroom worker` on another machine (BullMQ): only sends the raw
 *     message carried in the job and returns a SendResult; the owner records it through
 *     outboxResultEvents on queue.listen(). It has no stage record, so a remote worker killed
 *     mid-send is retried at least once by BullMQ.
 */

const DATA_SENT = 'data_sent';
const AFTER_CRASH = 'worker stopped after DATA was handed over; presumed delivered, not resent';

export interface SendHandlerDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  transport: SmtpSender;
  /** Delay before retrying after SMTP 421 (the server asked us to come back later). */
  retryLaterMs?: number;
}

/**
 * Serves `raw` in chunks, calling beforeLast just before the final chunk goes to the consumer
 * (and waiting for it when it returns a promise: a mark kept in Redis).
 */
class StagedRaw extends Readable {
  private pos = 0;
  private staged = false;
  constructor(
    private readonly buf: Buffer,
    private readonly beforeLast: () => void | Promise<void>,
    private readonly chunk = 16 * 1024,
  ) {
    super();
  }
  override _read(): void {
    if (this.pos >= this.buf.length) {
      this.push(null);
      return;
    }
    const end = Math.min(this.pos + this.chunk, this.buf.length);
    if (end === this.buf.length && !this.staged) {
      this.staged = true;
      let pending: void | Promise<void>;
      try {
        pending = this.beforeLast();
      } catch (e) {
        // Without the stage on record we must not let the server see the end of DATA.
        this.destroy(e as Error);
        return;
      }
      if (pending) {
        pending.then(
          () => this.pushUpTo(end),
          (e: unknown) => this.destroy(e instanceof Error ? e : new Error(String(e))),
        );
        return;
      }
    }
    this.pushUpTo(end);
  }
  private pushUpTo(end: number): void {
    const part = this.buf.subarray(this.pos, end);
    this.pos = end;
    this.push(part);
    if (this.pos >= this.buf.length) this.push(null);
  }
}

export class SmtpSendError extends Error {
  override name = 'SmtpSendError';
  constructor(readonly failure: SmtpFailure) {
    super(failureMessage(failure));
  }
}

/** The pure part: sends a raw message, never touches the database. Throws SmtpSendError. */
export async function deliverRaw(
  transport: SmtpSender,
  envelope: { from: string; to: string[] },
  raw: Buffer,
  beforeLastChunk: () => void | Promise<void> = () => {},
): Promise<string> {
  try {
    const res = await transport.sendRaw(envelope, new StagedRaw(raw, beforeLastChunk));
    if (res.accepted.length === 0)
      throw Object.assign(new Error(`recipient rejected: ${res.rejected.join(', ')}`), { responseCode: 550 });
    return res.response;
  } catch (e) {
    throw new SmtpSendError(smtpFailureOf(e));
  }
}

/** Maps an SMTP failure onto the queue's retry semantics. */
export function queueErrorFor(f: SmtpFailure, retryLaterMs: number): Error {
  if (f.responseCode === 421) return new RetryLaterError(failureMessage(f), retryLaterMs);
  if (f.responseCode !== undefined && f.responseCode >= 500) return new PermanentJobError(failureMessage(f));
  return new Error(failureMessage(f));
}

export function createSendHandler(deps: SendHandlerDeps): JobHandler<SendJobData, SendResult> {
  const { db, clock, transport } = deps;
  const log = deps.logger.child({ component: 'send' });
  const retryLaterMs = deps.retryLaterMs ?? 60_000;
  const setStage = db.prepare("UPDATE outbox SET send_stage = 'data_sent', updated_at = ? WHERE id = ?");

  return async (job) => {
    const id = job.data.outboxId;
    const row = getOutbox(db, id);
    if (!row) throw new PermanentJobError(`outbox row ${id} does not exist`);
    const done = { outboxId: id, messageId: row.message_id };
    if (
      row.status === 'sent' ||
      row.status === 'uncertain' ||
      row.status === 'failed' ||
      row.status === 'suppressed'
    )
      return { ...done, status: 'skipped' };
    if (row.send_stage === 'data_sent') {
      markUncertain(db, clock, id, AFTER_CRASH);
      log.warn(
        { outboxId: id, messageId: row.message_id },
        'send outcome unknown after a crash: not resending',
      );
      return { ...done, status: 'uncertain' };
    }
    prepareCached(
      db,
      "UPDATE outbox SET status = 'sending', send_stage = 'connecting', attempts = attempts + 1, updated_at = ? WHERE id = ?",
    ).run(clock.now(), id);
    let staged = false;
    try {
      const response = await deliverRaw(
        transport,
        { from: row.envelope_from, to: [row.to_addr] },
        Buffer.from(row.raw),
        () => {
          setStage.run(clock.now(), id);
          staged = true;
        },
      );
      markSent(db, clock, id, response);
      log.info({ outboxId: id, attempt: job.attempt }, 'mail sent');
      return { ...done, status: 'sent', response };
    } catch (e) {
      if (!(e instanceof SmtpSendError)) throw e;
      const f = e.failure;
      if (staged && f.responseCode === undefined) {
        // The connection broke after the last byte and before the reply: it may have been accepted.
        markUncertain(db, clock, id, `no reply after DATA: ${f.response}`);
        log.warn({ outboxId: id }, 'connection lost after DATA: presumed delivered, not resending');
        return { ...done, status: 'uncertain' };
      }
      const err = queueErrorFor(f, retryLaterMs);
      if (err instanceof PermanentJobError) {
        markFailed(db, clock, deps.logger, id, f);
      } else {
        // A reply code to DATA (or an earlier stage) is definite: the server kept nothing, resending is safe.
        db.prepare(
          "UPDATE outbox SET status = 'queued', send_stage = 'none', last_response = ?, updated_at = ? WHERE id = ?",
        ).run(f.response.slice(0, 1000), clock.now(), id);
        log.info(
          { outboxId: id, responseCode: f.responseCode, attempt: job.attempt },
          'send failed; will retry',
        );
      }
      throw err;
    }
  };
}

/**
 * For BullMQ workers (`mailroom worker` on other machines, and `mailroom start`'s own when on
 * Redis): the job carries the raw message and the worker never touches SQLite. The data_sent
 * stage is kept with the job in Redis instead (Job.setMark), so a worker killed after the end of
 * DATA is not followed by a second copy: the retry reports 'uncertain' and the database owner
 * records it. A driver without marks falls back to resending (at least once).
 */
export function createRemoteSendHandler(deps: {
  transport: SmtpSender;
  logger: Logger;
  retryLaterMs?: number;
}): JobHandler<SendJobData, SendResult> {
  const log = deps.logger.child({ component: 'send' });
  return async (job) => {
    const { outboxId, messageId, envelope, raw } = job.data;
    if (!raw)
      throw new PermanentJobError(
        new MailroomError(ErrorCodes.VALIDATION, `send job for outbox ${outboxId} carries no message`)
          .message,
      );
    const uncertain = (why: string): SendResult => {
      log.warn({ outboxId, messageId }, why);
      return { outboxId, messageId, status: 'uncertain', response: why };
    };
    if (job.mark === DATA_SENT) return uncertain(AFTER_CRASH);
    let staged = false;
    try {
      const response = await deliverRaw(deps.transport, envelope, Buffer.from(raw, 'base64'), async () => {
        await job.setMark?.(DATA_SENT);
        staged = true;
      });
      log.info({ outboxId, attempt: job.attempt }, 'mail sent');
      return { outboxId, messageId, status: 'sent', response };
    } catch (e) {
      if (!(e instanceof SmtpSendError)) throw e;
      if (staged && e.failure.responseCode === undefined)
        return uncertain(`no reply after DATA: ${e.failure.response}`);
      // A reply code is definite: the server kept nothing, so the retry may send again.
      if (staged) await job.setMark?.(null);
      throw queueErrorFor(e.failure, deps.retryLaterMs ?? 60_000);
    }
  };
}
