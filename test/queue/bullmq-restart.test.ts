import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/lib/index.ts';
import { createBullmqQueue, type JobQueue } from '../../src/queue/index.ts';
import { binary, tempDir } from '../harness/index.ts';
import { type DurableRedis, startDurableRedis, until } from './helpers.ts';

const redisBin = binary('redis');
const cleanup: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

async function durableRedis(): Promise<DurableRedis> {
  const r = await startDurableRedis(redisBin as string, tempDir());
  cleanup.push(() => r.stop());
  return r;
}

function openQueue(url: string): JobQueue {
  const q = createBullmqQueue({
    redisUrl: url,
    logger: silentLogger(),
    prefix: `t${Math.random().toString(36).slice(2)}`,
    // Short locks so a job whose completion was cut off by the restart is picked up again soon.
    lockDurationMs: 2000,
    stalledIntervalMs: 1000,
  });
  cleanup.push(() => q.close(1000));
  return q;
}

describe.skipIf(!redisBin)('bullmq queue across a Redis restart', () => {
  it('finishes every job and reports every result when Redis restarts under running workers', async () => {
    const redis = await durableRedis();
    const q = openQueue(redis.url);
    const done = new Set<string>();
    q.listen<string>('mail', { completed: (_job, r) => void done.add(r) });
    q.work<{ n: number }, string>(
      'mail',
      async (job) => {
        await new Promise((r) => setTimeout(r, 25));
        return `sent-${job.data.n}`;
      },
      { concurrency: 2 },
    );
    const N = 40;
    for (let n = 0; n < N; n++) await q.enqueue('mail', 'send', { n }, { jobId: `mail-${n}` });
    await until(() => done.size >= 5);

    await redis.stop();
    // Producers fail fast while Redis is away (the caller keeps its outbox row and retries later)
    // rather than holding the request open.
    await expect(q.enqueue('mail', 'send', { n: N }, { jobId: 'while-down' })).rejects.toThrow();
    // Down for longer than a job's lock, so workers lose the locks of the jobs they hold.
    await new Promise((r) => setTimeout(r, 3000));
    await redis.start();

    await until(() => done.size === N, 60_000);
    expect([...done].sort()).toEqual(Array.from({ length: N }, (_, n) => `sent-${n}`).sort());
    // Jobs whose completion the outage cut off run again (at least once) and then complete.
    await until(async () => (await q.counts('mail')).completed === N, 30_000);
    expect((await q.counts('mail')).failed).toBe(0);
  }, 90_000);
});
