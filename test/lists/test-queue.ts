import { silentLogger, systemClock } from '../../src/lib/index.ts';
import { createEmbeddedQueue, type JobQueue } from '../../src/queue/index.ts';
import { migrate, openDatabase } from '../../src/store/index.ts';

/**
 * The real embedded queue driver on its own in-memory database, with two test hooks: drain() waits
 * until no job is runnable or running, and retryParked() makes jobs a handler deferred (pause,
 * throttle: RetryLaterError) runnable now instead of after their delay.
 */
export function testQueue(
  opts: { retryDelayMs?: number } = {},
): JobQueue & { drain(): Promise<void>; retryParked(): void } {
  const db = openDatabase(':memory:');
  migrate(db);
  const queue = createEmbeddedQueue({
    db,
    clock: systemClock,
    logger: silentLogger(),
    pollMs: 5,
    defaults: { attempts: 3 },
  });
  const busy = db.prepare(
    `SELECT count(*) AS n FROM jobs WHERE state = 'active' OR (state = 'waiting' AND run_at <= ?)`,
  );
  return {
    ...queue,
    enqueue: (name, jobName, data, o = {}) =>
      queue.enqueue(name, jobName, data, {
        ...(opts.retryDelayMs ? { backoff: { type: 'fixed', delayMs: opts.retryDelayMs } } : {}),
        ...o,
      }),
    async drain() {
      // Twice in a row idle: a job finishing may enqueue the next one.
      for (let idle = 0; idle < 2; ) {
        await new Promise((r) => setTimeout(r, 10));
        idle = (busy.get(Date.now()) as { n: number }).n === 0 ? idle + 1 : 0;
      }
    },
    retryParked() {
      db.prepare("UPDATE jobs SET run_at = 0 WHERE state = 'waiting'").run();
    },
    async close() {
      await queue.close();
      db.close();
    },
  };
}
