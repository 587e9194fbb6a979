/**
 * The embedded driver's ways of sharing commits: a job added inside the caller's transaction
 * (enqueueInTransaction, handed straight to an idle worker), the handler's onClaim hook in the
 * claiming transaction, and atCompletion writes in the transaction that records the completion.
 * Each must commit or roll back as one with what it rides on.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger, systemClock } from '../../src/lib/index.ts';
import { createEmbeddedQueue, type Job, type JobHandler, type JobQueue } from '../../src/queue/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';
import { tempDir } from '../harness/index.ts';
import { until } from './helpers.ts';

const opened: JobQueue[] = [];
const dbs: Db[] = [];

afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((q) => q.close(1000)));
  for (const db of dbs.splice(0)) if (db.open) db.close();
});

function open(leaseMs?: number): { db: Db; q: JobQueue } {
  const db = openDatabase(path.join(tempDir(), 'q.sqlite'));
  migrate(db);
  db.exec('CREATE TABLE hook_writes (job TEXT NOT NULL, what TEXT NOT NULL)');
  dbs.push(db);
  const q = createEmbeddedQueue({
    db,
    clock: systemClock,
    logger: silentLogger(),
    pollMs: 20,
    ...(leaseMs ? { leaseMs } : {}),
  });
  opened.push(q);
  return { db, q };
}

const notes = (db: Db) =>
  db.prepare('SELECT job, what FROM hook_writes ORDER BY rowid').all() as Array<{
    job: string;
    what: string;
  }>;
const jobState = (db: Db, id: string) =>
  (
    db.prepare("SELECT state FROM jobs WHERE queue = 'mail' AND id = ?").get(id) as
      | { state: string }
      | undefined
  )?.state;

describe('embedded queue: jobs and hooks inside the caller’s transactions', () => {
  it('a job added in a transaction runs once it commits, and never when it rolls back', async () => {
    const { db, q } = open();
    const ran: string[] = [];
    q.work('mail', async (job) => void ran.push(job.id), { concurrency: 2 });
    await until(async () => (await q.counts('mail')).waiting === 0); // the worker has polled once
    const enqueue = q.enqueueInTransaction;
    expect(enqueue).toBeTypeOf('function');
    // Outside a transaction, or on another database, it declines and does nothing.
    expect(q.enqueueInTransaction?.(db, 'mail', 'x', {}, { jobId: 'no-tx' })).toBeNull();
    const other = openDatabase(':memory:');
    dbs.push(other);
    expect(other.transaction(() => q.enqueueInTransaction?.(other, 'mail', 'x', {}))()).toBeNull();

    expect(() =>
      db.transaction(() => {
        db.prepare("INSERT INTO hook_writes VALUES ('rolled-back', 'row')").run();
        expect(q.enqueueInTransaction?.(db, 'mail', 'x', {}, { jobId: 'rolled-back' })).toBe('rolled-back');
        throw new Error('the caller changes its mind');
      })(),
    ).toThrow(/changes its mind/);
    db.transaction(() => {
      db.prepare("INSERT INTO hook_writes VALUES ('kept', 'row')").run();
      q.enqueueInTransaction?.(db, 'mail', 'x', {}, { jobId: 'kept' });
    })();
    await until(() => ran.length === 1);
    await until(async () => (await q.counts('mail')).completed === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(ran).toEqual(['kept']);
    expect(jobState(db, 'rolled-back')).toBeUndefined();
    expect(notes(db)).toEqual([{ job: 'kept', what: 'row' }]);
  });

  it('a closed queue takes no job inside a transaction either', async () => {
    const { db, q } = open();
    await q.close(0);
    expect(
      db.transaction(() => q.enqueueInTransaction?.(db, 'mail', 'x', {}, { jobId: 'late' }))(),
    ).toBeNull();
    expect(jobState(db, 'late')).toBeUndefined();
  });

  it('a job handed off just as the queue closes is handed back for the next start, not run', async () => {
    const { db, q } = open();
    const ran: string[] = [];
    q.work('mail', async (job) => void ran.push(job.id));
    await until(async () => (await q.counts('mail')).waiting === 0);
    db.transaction(() => q.enqueueInTransaction?.(db, 'mail', 'x', {}, { jobId: 'last' }))();
    await q.close(500);
    expect(ran).toEqual([]);
    expect(jobState(db, 'last')).toBe('waiting');
  });

  it('onClaim writes commit with the claim, for the job object the handler then gets', async () => {
    const { db, q } = open();
    const claimed = new WeakSet<Job>();
    const seen: Array<[string, boolean, number]> = [];
    const handler: JobHandler<unknown, void> = async (job) => {
      const n = (
        db.prepare('SELECT count(*) AS n FROM hook_writes WHERE job = ?').get(job.id) as { n: number }
      ).n;
      seen.push([job.id, claimed.has(job), n]);
    };
    handler.onClaim = (job) => {
      db.prepare("INSERT INTO hook_writes VALUES (?, 'claimed')").run(job.id);
      claimed.add(job);
    };
    // Claimed by the worker's own claim (the job was there before the worker)...
    await q.enqueue('mail', 'x', {}, { jobId: 'polled' });
    q.work('mail', handler, { concurrency: 2 });
    await until(() => seen.length === 1);
    // ...and handed off inside the enqueuing transaction.
    await until(async () => (await q.counts('mail')).completed === 1);
    db.transaction(() => q.enqueueInTransaction?.(db, 'mail', 'x', {}, { jobId: 'handed' }))();
    await until(() => seen.length === 2);
    expect(seen).toEqual([
      ['polled', true, 1],
      ['handed', true, 1],
    ]);
  });

  it('atCompletion writes commit with the completion; a throwing one leaves the job to run again', async () => {
    const { db, q } = open(600);
    const tries: Array<[string, number]> = [];
    q.work('mail', async (job: Job) => {
      tries.push([job.id, job.attempt]);
      job.atCompletion?.(() => {
        db.prepare("INSERT INTO hook_writes VALUES (?, 'done')").run(job.id);
        // The first try's bookkeeping fails after writing: nothing of it may stay.
        if (job.id === 'flaky' && job.attempt === 1) throw new Error('disk says no');
      });
    });
    await q.enqueue('mail', 'x', {}, { jobId: 'steady' });
    await until(async () => (await q.counts('mail')).completed === 1);
    expect(notes(db)).toEqual([{ job: 'steady', what: 'done' }]);

    await q.enqueue('mail', 'x', {}, { jobId: 'flaky' });
    await until(() => tries.length === 2);
    // Not completed: still active under its lease, and the failed write rolled back.
    expect(jobState(db, 'flaky')).toBe('active');
    expect(notes(db)).toEqual([{ job: 'steady', what: 'done' }]);
    // Once the lease is out the job runs again, and this time it completes with its write.
    await until(() => jobState(db, 'flaky') === 'completed', 10_000);
    expect(tries).toEqual([
      ['steady', 1],
      ['flaky', 1],
      ['flaky', 2],
    ]);
    expect(notes(db)).toEqual([
      { job: 'steady', what: 'done' },
      { job: 'flaky', what: 'done' },
    ]);
  });

  it('many jobs finishing together all complete, each with its own atCompletion write', async () => {
    const { db, q } = open();
    let running = 0;
    let peak = 0;
    const handler: JobHandler<{ i: number }, number> = async (job) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      running--;
      job.atCompletion?.(() => void db.prepare("INSERT INTO hook_writes VALUES (?, 'done')").run(job.id));
      return job.data.i;
    };
    handler.maxConcurrency = 3;
    q.work('mail', handler, { concurrency: 8 });
    db.transaction(() => {
      for (let i = 0; i < 40; i++) q.enqueueInTransaction?.(db, 'mail', 'x', { i }, { jobId: `j${i}` });
    })();
    await until(async () => (await q.counts('mail')).completed === 40);
    expect(notes(db)).toHaveLength(40);
    expect(new Set(notes(db).map((n) => n.job)).size).toBe(40);
    expect(peak).toBeLessThanOrEqual(3);
  });

  it('a completion that cannot commit at once (the database busy) is written on a later try, not lost', async () => {
    const file = path.join(tempDir(), 'busy.sqlite');
    const db = openDatabase(file, { busyTimeoutMs: 20 });
    migrate(db);
    db.exec('CREATE TABLE hook_writes (job TEXT NOT NULL, what TEXT NOT NULL)');
    dbs.push(db);
    const q = createEmbeddedQueue({ db, clock: systemClock, logger: silentLogger(), pollMs: 20 });
    opened.push(q);
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let runs = 0;
    q.work('mail', async (job) => {
      runs++;
      await gate;
      job.atCompletion?.(() => void db.prepare("INSERT INTO hook_writes VALUES (?, 'sent')").run(job.id));
    });
    await q.enqueue('mail', 'x', {}, { jobId: 'busy-1' });
    await until(() => runs === 1);
    // Another process takes the write lock just as the job finishes, and keeps it past one try.
    const other = openDatabase(file);
    dbs.push(other);
    other.exec('BEGIN IMMEDIATE');
    release();
    await new Promise((r) => setTimeout(r, 250));
    expect(jobState(db, 'busy-1')).toBe('active');
    other.exec('COMMIT');
    await until(() => jobState(db, 'busy-1') === 'completed');
    expect(notes(db)).toEqual([{ job: 'busy-1', what: 'sent' }]);
    expect(runs).toBe(1);
  });
});
