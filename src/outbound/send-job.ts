import { Readable } from 'node:stream';
import { type Clock, ErrorCodes, type Logger, MailroomError } from '../lib/index.ts';
import { type Job, type JobHandler, PermanentJobError, RetryLaterError } from '../queue/index.ts';
import type { Db } from '../store/index.ts';
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

/**
 * Sent mail: one line per mail at debug, and at info a count once a minute while mail goes out.
 * The outbox row records every send; an info line per mail cost ~2% of the send path. Failures,
 * retries and uncertain outcomes keep their own lines.
 */
function sentLog(log: Logger, everyMs = 60_000): (fields: Record<string, unknown>) => void {
  let sent = 0;
  let timer: NodeJS.Timeout | null = null;
  const summary = () => {
    if (sent === 0) {
      if (timer) clearInterval(timer);
      timer = null;
      return;
    }
    log.info({ sent, periodS: everyMs / 1000 }, 'mails sent');
    sent = 0;
  };
  return (fields) => {
    log.debug(fields, 'mail sent');
    sent += 1;
    if (!timer) {
      timer = setInterval(summary, everyMs);
      timer.unref();
    }
  };
}

/**
 * Send jobs per process: two per SMTP connection. One is sending; the other has its row read and
 * waits for the connection, so a connection never idles while the next job is claimed and loaded
 * (with one per connection ~30% of the send path was idle: 0.78-0.84 of the raw nodemailer pool
 * became 0.88-0.98 in the send benchmark). More would only hold leases (or BullMQ locks, and
 * another worker's chance to send them) while waiting; on BullMQ waiting jobs belong in Redis.
 */
function withTransportLimit<H extends JobHandler<SendJobData, SendResult>>(
  handler: H,
  transport: SmtpSender,
): H {
  if (transport.maxConnections) handler.maxConcurrency = 2 * transport.maxConnections;
  return handler;
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
  const logSent = sentLog(log);
  const retryLaterMs = deps.retryLaterMs ?? 60_000;
  const setStage = db.prepare("UPDATE outbox SET send_stage = 'data_sent', updated_at = ? WHERE id = ?");
  // The row is taken for this try: status 'sending', one more attempt. Never a row that is done or
  // whose last try may have reached the server (data_sent): the handler's checks below see those.
  const markSending = db.prepare(
    `UPDATE outbox SET status = 'sending', send_stage = 'connecting', attempts = attempts + 1, updated_at = ?
     WHERE id = ? AND status IN ('queued', 'sending') AND send_stage IN ('none', 'connecting')`,
  );
  const retryable = db.prepare(
    "UPDATE outbox SET status = 'queued', send_stage = 'none', last_response = ?, updated_at = ? WHERE id = ?",
  );
  /** Jobs whose claim already marked their row 'sending' for this try (embedded driver). */
  const markedAtClaim = new WeakSet<Job<SendJobData>>();

  const handler = async (job: Job<SendJobData>): Promise<SendResult> => {
    const id = job.data.outboxId;
    const claimedMark = markedAtClaim.has(job);
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
    if (!claimedMark) markSending.run(clock.now(), id);
    let staged = false;
    try {
      const response = await deliverRaw(
        transport,
        { from: row.envelope_from, to: [row.to_addr] },
        Buffer.from(row.raw),
        () => {
          // The one commit that must precede the end of DATA: its own, synchronous, before the
          // last chunk is handed over.
          setStage.run(clock.now(), id);
          staged = true;
        },
      );
      // 'sent' commits with the job's completion where the queue offers it (one commit for both,
      // shared by the mails finishing together). A crash before that commit leaves data_sent on
      // record: the retry reports uncertain and never resends, as for a crash before any markSent.
      const record = () => markSent(db, clock, id, response);
      if (job.atCompletion) job.atCompletion(record);
      else record();
      logSent({ outboxId: id, attempt: job.attempt });
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
        retryable.run(f.response.slice(0, 1000), clock.now(), id);
        log.info(
          { outboxId: id, responseCode: f.responseCode, attempt: job.attempt },
          'send failed; will retry',
        );
      }
      throw err;
    }
  };
  // Embedded driver: the 'sending' mark commits with the claim of the job instead of on its own.
  handler.onClaim = (job: Job<SendJobData>) => {
    if (markSending.run(clock.now(), job.data.outboxId).changes > 0) markedAtClaim.add(job);
  };
  return withTransportLimit(handler, transport);
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
  const logSent = sentLog(log);
  return withTransportLimit(async (job: Job<SendJobData>): Promise<SendResult> => {
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
      logSent({ outboxId, attempt: job.attempt });
      return { outboxId, messageId, status: 'sent', response };
    } catch (e) {
      if (!(e instanceof SmtpSendError)) throw e;
      if (staged && e.failure.responseCode === undefined)
        return uncertain(`no reply after DATA: ${e.failure.response}`);
      // A reply code is definite: the server kept nothing, so the retry may send again.
      if (staged) await job.setMark?.(null);
      throw queueErrorFor(e.failure, deps.retryLaterMs ?? 60_000);
    }
  }, deps.transport);
}
