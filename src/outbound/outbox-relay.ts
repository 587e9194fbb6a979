import type { Clock, Logger } from '../lib/index.ts';
import type { JobQueue } from '../queue/index.ts';
import type { Db } from '../store/index.ts';
import { jobData, OUTBOUND_QUEUE, type OutboxRow, SEND_JOB, sendJobId } from './outbox.ts';

/**
 * The outbox relay. queueMail commits the outbox row first and enqueues its send job second, so a
 * failed enqueue (Redis away, the disk full) or a crash between the two leaves a `queued` row that
 * no job will ever send: lost mail, unless the caller happens to retry with the same key. The
 * relay offers such rows to the queue again: once when the database owner starts, then whenever
 * the queue holds fewer outbound jobs than there are rows waiting to be sent. The job id comes from
 * the row, so offering a row whose job still exists does nothing.
 */

export interface OutboxRelayDeps {
  db: Db;
  queue: JobQueue;
  clock: Clock;
  logger: Logger;
  /** How often to compare the outbox with the queue (default 10 s). */
  everyMs?: number;
  /** Rows changed more recently than this are left to the enqueue that is still under way. */
  graceMs?: number;
}

export interface OutboxRelay {
  /** Offers every `queued` row older than the grace period to the queue; returns how many. */
  sweep(graceMs?: number): Promise<number>;
  /** Checks now, then every `everyMs`: when rows outnumber jobs, sweeps. */
  start(): Promise<void>;
  stop(): void;
}

type RelayRow = Pick<OutboxRow, 'id' | 'message_id' | 'envelope_from' | 'to_addr' | 'raw'>;

export function createOutboxRelay(deps: OutboxRelayDeps): OutboxRelay {
  const { db, queue, clock } = deps;
  const log = deps.logger.child({ component: 'outbox-relay' });
  const everyMs = deps.everyMs ?? 10_000;
  const grace = deps.graceMs ?? Math.min(everyMs, 10_000);
  const page = db.prepare(
    `SELECT id, message_id, envelope_from, to_addr, raw FROM outbox
     WHERE status = 'queued' AND updated_at <= ? AND id > ? ORDER BY id LIMIT 200`,
  );
  const waiting = db.prepare("SELECT count(*) AS n FROM outbox WHERE status IN ('queued', 'sending')");
  let timer: NodeJS.Timeout | null = null;
  let busy = false;

  async function sweep(graceMs = grace): Promise<number> {
    const before = clock.now() - graceMs;
    let n = 0;
    for (let last = 0; ; ) {
      const rows = page.all(before, last) as RelayRow[];
      if (rows.length === 0) return n;
      for (const row of rows) {
        await queue.enqueue(OUTBOUND_QUEUE, SEND_JOB, jobData(queue, row), { jobId: sendJobId(row.id) });
        n++;
      }
      last = (rows[rows.length - 1] as RelayRow).id;
    }
  }

  async function check(graceMs = grace): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      const rows = (waiting.get() as { n: number }).n;
      const c = await queue.counts(OUTBOUND_QUEUE);
      if (rows > c.waiting + c.delayed + c.active) {
        const offered = await sweep(graceMs);
        log.info(
          { rows, jobs: c.waiting + c.delayed + c.active, offered },
          'outbox rows without a job re-enqueued',
        );
      }
    } catch (e) {
      log.warn({ err: e }, 'outbox relay check failed; will try again');
    } finally {
      busy = false;
    }
  }

  return {
    sweep,
    async start() {
      // Nothing is mid-enqueue in this process yet: rows of any age may be offered.
      await check(0);
      timer ??= setInterval(() => void check(), everyMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
