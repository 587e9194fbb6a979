import { type Clock, ErrorCodes, type Logger, MailroomError } from '../lib/index.ts';
import type { JobQueue } from '../queue/index.ts';
import { type Db, inTransaction, prepareCached } from '../store/index.ts';
import { getOutbox, jobData, OUTBOUND_QUEUE, SEND_JOB, sendJobId } from './outbox.ts';
import { getSuppression, isSuppressed } from './suppressions.ts';

export interface SendAgainDeps {
  db: Db;
  queue: JobQueue;
  clock: Clock;
  logger: Logger;
}

/** What staff may send again: a mail that failed, or one whose send was cut off after DATA. */
const AGAIN = ['failed', 'uncertain'] as const;

/**
 * Queues a failed or uncertain mail once more, as it was: same message, same Message-ID (a
 * receiver that already has it drops the copy by Message-ID; most large providers do). This is
 * the staff's answer to the one case mailroom cannot decide alone: a connection cut between the
 * end of DATA and the server's reply, which mailroom records as uncertain and never resends by
 * itself. Refused for any other status, and for an address on the suppression list (a hard
 * bounce for any mail, any entry for marketing), with a message that says why.
 */
export async function sendAgain(deps: SendAgainDeps, outboxId: number, by: string): Promise<void> {
  const { db, queue, clock } = deps;
  const row = getOutbox(db, outboxId);
  if (!row) throw new MailroomError(ErrorCodes.NOT_FOUND, `mail ${outboxId} is not in the outbox`);
  if (!(AGAIN as readonly string[]).includes(row.status))
    throw new MailroomError(
      ErrorCodes.CONFLICT,
      `only a mail that failed or may not have arrived can be sent again; this one is ${row.status}`,
    );
  if (isSuppressed(db, row.to_addr, row.category))
    throw new MailroomError(
      ErrorCodes.CONFLICT,
      `${row.to_addr} is on the suppression list (${getSuppression(db, row.to_addr)?.reason}); remove it there before sending again`,
    );
  const note = `sent again by ${by}`.slice(0, 200);
  const previous = { status: row.status, stage: row.send_stage, response: row.last_response };
  const reopen = prepareCached(
    db,
    `UPDATE outbox SET status = 'queued', send_stage = 'none', last_response = ?, updated_at = ?
     WHERE id = ? AND status IN ('failed', 'uncertain')`,
  );
  const opts = { jobId: sendJobId(row.id), replaceFinished: true };
  const enqueued = inTransaction(db, () => {
    if (reopen.run(note, clock.now(), row.id).changes === 0)
      throw new MailroomError(
        ErrorCodes.CONFLICT,
        `mail ${outboxId} changed meanwhile; reload and try again`,
      );
    // Embedded: the job commits with the row.
    return queue.enqueueInTransaction?.(db, OUTBOUND_QUEUE, SEND_JOB, jobData(queue, row), opts) ?? null;
  });
  if (enqueued === null) {
    try {
      await queue.enqueue(OUTBOUND_QUEUE, SEND_JOB, jobData(queue, row), opts);
    } catch (e) {
      // Not queued: the row goes back to what it was, so staff can try again (the relay would not
      // replace the earlier, finished job of the same id).
      prepareCached(
        db,
        `UPDATE outbox SET status = ?, send_stage = ?, last_response = ?, updated_at = ?
         WHERE id = ? AND status = 'queued' AND send_stage = 'none'`,
      ).run(previous.status, previous.stage, previous.response, clock.now(), row.id);
      throw e;
    }
  }
  deps.logger.info({ outboxId: row.id, by, previous: previous.status }, 'mail sent again by staff');
}
