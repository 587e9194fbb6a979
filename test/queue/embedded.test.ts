import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, silentLogger, systemClock } from '../../src/lib/index.ts';
import { createEmbeddedQueue, type Job, type JobQueue } from '../../src/queue/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';
import { tempDir } from '../harness/index.ts';
import { until } from './helpers.ts';

const opened: JobQueue[] = [];
const dbs: Db[] = [];

afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((q) => q.close(1000)));
  for (const db of dbs.splice(0)) if (db.open) db.close();
});

/** A queue on `file` (same file again = after a restart) driven by a hand-set clock. */
function openQueue(file: string, clock: ManualClock, extra: { retentionMs?: number } = {}): JobQueue {
  const db = openDatabase(file);
  migrate(db);
  dbs.push(db);
  const q = createEmbeddedQueue({ db, clock, logger: silentLogger(), pollMs: 10, ...extra });
  opened.push(q);
  return q;
}

/** Waits until nothing is ready to run now: every job ran, or waits for a later time. */
async function settled(q: JobQueue, name: string): Promise<void> {
  await until(async () => {
    const c = await q.counts(name);
    return c.waiting === 0 && c.active === 0;
  });
}

describe('embedded queue on a hand-set clock', () => {
  it('runs a delayed job only once the clock reaches its time', async () => {
    const clock = new ManualClock();
    const q = openQueue(path.join(tempDir(), 'q.sqlite'), clock);
    const ran: string[] = [];
    q.work('mail', async (job) => void ran.push(job.id));
    await q.enqueue('mail', 'reminder', {}, { jobId: 'reminder-1', delayMs: 2 * 24 * 3600_000 });
    await q.enqueue('mail', 'now', {}, { jobId: 'now-1' });
    await until(() => ran.length === 1);
    await settled(q, 'mail');
    expect(ran).toEqual(['now-1']);
    expect((await q.counts('mail')).delayed).toBe(1);
    clock.advance(2 * 24 * 3600_000);
    await until(() => ran.length === 2);
    expect(ran).toEqual(['now-1', 'reminder-1']);
  });

  it('waits out the exponential backoff on the clock between tries', async () => {
    const clock = new ManualClock();
    const q = openQueue(path.join(tempDir(), 'q.sqlite'), clock);
    const tries: Array<[number, number]> = [];
    q.work('mail', async (job: Job) => {
      tries.push([job.attempt, clock.now()]);
      throw new Error('451 greylisted');
    });
    const start = clock.now();
    await q.enqueue('mail', 'send', {}, { attempts: 3, backoff: { type: 'exponential', delayMs: 60_000 } });
    await until(() => tries.length === 1);
    await settled(q, 'mail');
    clock.advance(59_999);
    await settled(q, 'mail');
    expect(tries.length).toBe(1);
    clock.advance(1);
    await until(() => tries.length === 2);
    clock.advance(120_000);
    await until(() => tries.length === 3);
    expect(tries).toEqual([
      [1, start],
      [2, start + 60_000],
      [3, start + 180_000],
    ]);
    await until(async () => (await q.counts('mail')).failed === 1);
  });

  it('keeps the rate-limit window across a restart: a new process does not get a fresh quota', async () => {
    const clock = new ManualClock();
    const file = path.join(tempDir(), 'q.sqlite');
    const limiter = { max: 2, durationMs: 3600_000 };
    const first = openQueue(file, clock);
    const ran: number[] = [];
    for (let i = 0; i < 5; i++) await first.enqueue('campaign', 'send', { i });
    first.work<{ i: number }, void>('campaign', async (job) => void ran.push(job.data.i), {
      concurrency: 5,
      limiter,
    });
    await until(() => ran.length === 2);
    await first.close(1000);

    const second = openQueue(file, clock);
    second.work('campaign', async (job: Job<{ i: number }>) => void ran.push(job.data.i), {
      concurrency: 5,
      limiter,
    });
    // The hour that allowed two sends is not over: a restarted worker must wait, not send more.
    clock.advance(3600_000 - 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(ran.length).toBe(2);
    clock.advance(1);
    await until(() => ran.length === 4);
    await new Promise((r) => setTimeout(r, 100));
    expect(ran.length).toBe(4);
    expect((await second.counts('campaign')).waiting).toBe(1);
  });

  it('keeps a finished job id taken for the retention window, then lets it run again', async () => {
    const clock = new ManualClock();
    const q = openQueue(path.join(tempDir(), 'q.sqlite'), clock, { retentionMs: 24 * 3600_000 });
    const ran: number[] = [];
    q.work<{ v: number }, void>('mail', async (job) => void ran.push(job.data.v));
    expect(await q.enqueue('mail', 'ack', { v: 1 }, { jobId: 'ack-7' })).toBe('ack-7');
    await until(() => ran.length === 1);
    await until(async () => (await q.counts('mail')).completed === 1);
    clock.advance(3600_000);
    expect(await q.enqueue('mail', 'ack', { v: 2 }, { jobId: 'ack-7' })).toBe('ack-7');
    await settled(q, 'mail');
    expect(ran).toEqual([1]);
    clock.advance(24 * 3600_000);
    await q.enqueue('mail', 'ack', { v: 3 }, { jobId: 'ack-7' });
    await until(() => ran.length === 2);
    expect(ran).toEqual([1, 3]);
  });
});

const CHILD = path.join(import.meta.dirname, 'embedded-child.ts');

/**
 * A worker process (embedded-child.ts, with the given lease) starts job order-9 and is SIGKILLed
 * mid-job; then a fresh queue on the same file works the mail queue. Returns what it ran.
 */
async function rerunAfterKill(leaseMs?: number): Promise<{ q: JobQueue; reran: Array<[string, number]> }> {
  const file = path.join(tempDir(), 'q.sqlite');
  const args = ['--import', 'tsx', CHILD, file, ...(leaseMs ? [String(leaseMs)] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  await until(() => stderr.includes('started order-9'), 30_000);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;

  const db = openDatabase(file);
  dbs.push(db);
  const q = createEmbeddedQueue({ db, clock: systemClock, logger: silentLogger(), pollMs: 20 });
  opened.push(q);
  const reran: Array<[string, number]> = [];
  q.work('mail', async (job: Job) => void reran.push([job.id, job.attempt]));
  return { q, reran };
}

describe('embedded queue across a crash', () => {
  it('runs a job again after the lease of a SIGKILLed worker runs out', async () => {
    const { q, reran } = await rerunAfterKill();
    await until(() => reran.length === 1, 30_000);
    // The killed try counts: this is the second attempt of the same job.
    expect(reran).toEqual([['order-9', 2]]);
    await until(async () => (await q.counts('mail')).completed === 1);
  }, 60_000);

  it('takes back the jobs of a SIGKILLed worker on this machine at once, without waiting out its lease', async () => {
    // A 10-minute lease: only the dead-process check can hand the job back within the test.
    const { reran } = await rerunAfterKill(600_000);
    await until(() => reran.length === 1, 20_000);
    expect(reran).toEqual([['order-9', 2]]);
  }, 60_000);
});
