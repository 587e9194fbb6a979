import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger, systemClock } from '../../src/lib/index.ts';
import { createBullmqQueue } from '../../src/queue/bullmq-queue.ts';
import {
  createEmbeddedQueue,
  createQueue,
  type Job,
  type JobHandler,
  JobNotFinishedError,
  type JobQueue,
  PermanentJobError,
  RetryLaterError,
} from '../../src/queue/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';
import { redisInfo, tempDir } from '../harness/index.ts';
import { until } from './helpers.ts';

const redis = redisInfo();

interface Driver {
  name: 'embedded' | 'bullmq';
  /** Opens a queue on the same storage each call: a second call is "after a restart". */
  open(): JobQueue;
}

const open: JobQueue[] = [];
const dbs: Db[] = [];

function embedded(): Driver {
  const file = path.join(tempDir(), 'q.sqlite');
  return {
    name: 'embedded',
    open() {
      const db = openDatabase(file);
      migrate(db);
      dbs.push(db);
      const q = createEmbeddedQueue({ db, clock: systemClock, logger: silentLogger() });
      open.push(q);
      return q;
    },
  };
}

function bullmq(): Driver {
  const prefix = `t${Math.random().toString(36).slice(2)}`;
  return {
    name: 'bullmq',
    open() {
      const db = openDatabase(':memory:');
      dbs.push(db);
      const q = createBullmqQueue({ redisUrl: redis?.url ?? '', prefix, logger: silentLogger() });
      open.push(q);
      return q;
    },
  };
}

afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((q) => q.close(2000)));
  for (const db of dbs.splice(0)) if (db.open) db.close();
});

const drivers: Array<[string, () => Driver]> = [['embedded', embedded]];
if (redis) drivers.push(['bullmq', bullmq]);
else console.warn('!!! SKIPPING the BullMQ queue contract: redis-server is not installed');

describe('createQueue', () => {
  it('gives the embedded queue without a Redis URL and BullMQ with one', async () => {
    const db = openDatabase(':memory:');
    migrate(db);
    dbs.push(db);
    const embeddedQueue = await createQueue({ db, clock: systemClock, logger: silentLogger() });
    open.push(embeddedQueue);
    expect(embeddedQueue.driver).toBe('embedded');
    if (!redis) return;
    const prefix = `t${Math.random().toString(36).slice(2)}`;
    const bull = await createQueue({
      redisUrl: redis.url,
      prefix,
      db,
      clock: systemClock,
      logger: silentLogger(),
    });
    open.push(bull);
    expect(bull.driver).toBe('bullmq');
  });
});

describe.each(drivers)('queue contract: %s', (_name, make) => {
  it('runs enqueued jobs with their data and reports results to listeners', async () => {
    const q = make().open();
    const results: unknown[] = [];
    q.listen('mail', { completed: (job, r) => void results.push([job.name, r]) });
    q.work<{ n: number }, number>('mail', async (job) => job.data.n * 2);
    await q.enqueue('mail', 'double', { n: 21 });
    await until(() => results.length === 1);
    expect(results).toEqual([['double', 42]]);
  });

  it('deduplicates by job id', async () => {
    const q = make().open();
    const seen: string[] = [];
    const a = await q.enqueue('mail', 'x', { v: 1 }, { jobId: 'order-7-confirmation', delayMs: 300 });
    const b = await q.enqueue('mail', 'x', { v: 2 }, { jobId: 'order-7-confirmation', delayMs: 300 });
    expect(a).toBe(b);
    q.work<{ v: number }, void>('mail', async (job) => void seen.push(`${job.id}:${job.data.v}`));
    await until(() => seen.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual(['order-7-confirmation:1']);
  });

  it('holds delayed jobs until their time, and cancel removes a waiting job', async () => {
    const q = make().open();
    const ran: string[] = [];
    await q.enqueue('mail', 'later', {}, { jobId: 'later-1', delayMs: 60_000 });
    await q.enqueue('mail', 'gone', {}, { jobId: 'gone-1', delayMs: 60_000 });
    expect(await q.cancel('mail', 'gone-1')).toBe(true);
    expect(await q.cancel('mail', 'gone-1')).toBe(false);
    q.work('mail', async (job) => void ran.push(job.id));
    await q.enqueue('mail', 'now', {}, { jobId: 'now-1' });
    await until(() => ran.length === 1);
    expect(ran).toEqual(['now-1']);
    const counts = await q.counts('mail');
    expect(counts.delayed).toBe(1);
  });

  it('retries with backoff, then fails for good and tells listeners', async () => {
    const q = make().open();
    const attempts: number[] = [];
    const failed: string[] = [];
    q.listen('mail', { failed: (_job, err) => void failed.push(err.message) });
    q.work('mail', async (job: Job) => {
      attempts.push(job.attempt);
      throw new Error('451 try again later');
    });
    await q.enqueue('mail', 'flaky', {}, { attempts: 3, backoff: { type: 'fixed', delayMs: 50 } });
    await until(() => failed.length === 1);
    expect(attempts).toEqual([1, 2, 3]);
    expect(failed).toEqual(['451 try again later']);
  });

  it('fails a job at once on a permanent error', async () => {
    const q = make().open();
    let tries = 0;
    const failed: string[] = [];
    q.listen('mail', { failed: (_job, err) => void failed.push(err.message) });
    q.work('mail', async () => {
      tries++;
      throw new PermanentJobError('550 no such user');
    });
    await q.enqueue('mail', 'bad', {}, { attempts: 5 });
    await until(() => failed.length === 1);
    expect(tries).toBe(1);
  });

  it('retries later without spending an attempt on RetryLaterError', async () => {
    const q = make().open();
    const attempts: number[] = [];
    let calls = 0;
    q.work('mail', async (job: Job) => {
      calls++;
      attempts.push(job.attempt);
      if (calls <= 3) throw new RetryLaterError('421 slow down', 30);
      return 'ok';
    });
    const done: unknown[] = [];
    q.listen('mail', { completed: (_j, r) => void done.push(r) });
    await q.enqueue('mail', 'throttled', {}, { attempts: 2 });
    await until(() => done.length === 1);
    expect(calls).toBe(4);
    expect(new Set(attempts)).toEqual(new Set([1]));
  });

  it('never runs more jobs at once than the concurrency', async () => {
    const q = make().open();
    let running = 0;
    let peak = 0;
    let done = 0;
    q.work(
      'mail',
      async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 30));
        running--;
        done++;
      },
      { concurrency: 3 },
    );
    for (let i = 0; i < 12; i++) await q.enqueue('mail', 'j', { i });
    await until(() => done === 12);
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(1);
  });

  it('runs no more jobs at once than the handler can take (maxConcurrency), whatever the concurrency', async () => {
    const q = make().open();
    let running = 0;
    let peak = 0;
    let done = 0;
    const handler: JobHandler = async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 30));
      running--;
      done++;
    };
    handler.maxConcurrency = 2;
    q.work('mail', handler, { concurrency: 6 });
    for (let i = 0; i < 10; i++) await q.enqueue('mail', 'j', { i });
    await until(() => done === 10);
    expect(peak).toBeLessThanOrEqual(2);
    expect(peak).toBeGreaterThan(0);
  });

  it('keeps to the rate limit: at most max jobs start in any window', async () => {
    const q = make().open();
    const starts: number[] = [];
    q.work('mail', async () => void starts.push(Date.now()), {
      concurrency: 5,
      limiter: { max: 3, durationMs: 400 },
    });
    for (let i = 0; i < 7; i++) await q.enqueue('mail', 'j', { i });
    await until(() => starts.length === 7);
    // Seven jobs at three per 400 ms window need at least three windows.
    expect((starts.at(-1) ?? 0) - (starts[0] ?? 0)).toBeGreaterThanOrEqual(400);
  });

  it('keeps the id of a finished job taken: enqueueing it again is a no-op that returns the id', async () => {
    const q = make().open();
    const ran: number[] = [];
    q.work<{ v: number }, void>('mail', async (job) => void ran.push(job.data.v));
    await q.enqueue('mail', 'ack', { v: 1 }, { jobId: 'ack-conv-12' });
    await until(async () => (await q.counts('mail')).completed === 1);
    expect(await q.enqueue('mail', 'ack', { v: 2 }, { jobId: 'ack-conv-12' })).toBe('ack-conv-12');
    await q.enqueue('mail', 'ack', { v: 3 }, { jobId: 'after' });
    await until(async () => (await q.counts('mail')).completed === 2);
    expect(ran).toEqual([1, 3]);
  });

  it('runs a finished job again under its id when asked to replace it, and refuses while it has not finished', async () => {
    const q = make().open();
    const ran: number[] = [];
    q.work<{ v: number }, void>('mail', async (job) => void ran.push(job.data.v));
    await q.enqueue('mail', 'send', { v: 1 }, { jobId: 'send-7' });
    await until(async () => (await q.counts('mail')).completed === 1);
    await q.enqueue('mail', 'send', { v: 2 }, { jobId: 'send-7', replaceFinished: true });
    await until(() => ran.length === 2);
    expect(ran).toEqual([1, 2]);
    // A job not finished yet is not replaced, and the caller is told so.
    await q.enqueue('mail', 'send', { v: 3 }, { jobId: 'later', delayMs: 60_000 });
    await expect(
      q.enqueue('mail', 'send', { v: 4 }, { jobId: 'later', delayMs: 60_000, replaceFinished: true }),
    ).rejects.toThrow(JobNotFinishedError);
    expect((await q.counts('mail')).delayed).toBe(1);
  });

  it('accepts any job id, even ones BullMQ forbids, and hands it back unchanged', async () => {
    const q = make().open();
    const seen: string[] = [];
    q.work('mail', async (job) => void seen.push(job.id));
    const ids = ['123', 'j123', 'order:7', 'order_7', 'm-x', '50%'];
    for (const id of ids) expect(await q.enqueue('mail', 'x', {}, { jobId: id })).toBe(id);
    await until(() => seen.length === ids.length);
    expect([...seen].sort()).toEqual([...ids].sort());
    expect(await q.cancel('mail', 'order:7')).toBe(false);
    await q.enqueue('mail', 'x', {}, { jobId: '77', delayMs: 60_000 });
    expect(await q.cancel('mail', '77')).toBe(true);
  });

  it('does not double a repeating schedule across a restart', async () => {
    const d = make();
    const first = d.open();
    await first.schedule('scan', 'sla-scan', 60_000, 'scan', { x: 1 });
    await first.schedule('scan', 'sla-scan', 60_000, 'scan', { x: 1 });
    await first.close(1000);
    const second = d.open();
    await second.schedule('scan', 'sla-scan', 60_000, 'scan', { x: 1 });
    const ran: string[] = [];
    second.work('scan', async (job) => void ran.push(job.name));
    await until(() => ran.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(ran).toEqual(['scan']);
  });

  it('hands jobs in flight back on close, and a new instance finishes them', async () => {
    const d = make();
    const first = d.open();
    let started = 0;
    first.work('mail', async () => {
      started++;
      await new Promise((r) => setTimeout(r, 10_000));
    });
    await first.enqueue('mail', 'slow', {}, { jobId: 'slow-1' });
    await until(() => started === 1);
    await first.close(200);
    const second = d.open();
    const finished: string[] = [];
    second.work('mail', async (job) => void finished.push(job.id));
    await until(() => finished.length === 1, 40_000);
    expect(finished).toEqual(['slow-1']);
  }, 60_000);
});
