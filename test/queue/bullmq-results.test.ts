/**
 * How job results reach the database owner on the BullMQ driver: straight to listeners in the
 * process that ran the job (no results queue round trips), through the `<queue>.results` queue
 * from workers elsewhere, and through that queue too when a local listener fails.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger, systemClock } from '../../src/lib/index.ts';
import { createBullmqQueue } from '../../src/queue/bullmq-queue.ts';
import type { JobQueue } from '../../src/queue/index.ts';
import { type Db, openDatabase } from '../../src/store/index.ts';
import { redisInfo } from '../harness/index.ts';
import { until } from './helpers.ts';

const redis = redisInfo();
const opened: JobQueue[] = [];
const dbs: Db[] = [];

afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((q) => q.close(2000)));
  for (const db of dbs.splice(0)) if (db.open) db.close();
});

function opener(): () => JobQueue {
  const prefix = `t${Math.random().toString(36).slice(2)}`;
  return () => {
    const db = openDatabase(':memory:');
    dbs.push(db);
    const q = createBullmqQueue({ redisUrl: redis?.url ?? '', prefix, logger: silentLogger() });
    opened.push(q);
    return q;
  };
}

describe.skipIf(!redis)('bullmq driver: results to the database owner', () => {
  it('a worker in another process reports through the results queue', async () => {
    const open = opener();
    const owner = open();
    const got: unknown[] = [];
    owner.listen('mail', { completed: (job, r) => void got.push([job.id, r]) });
    const remote = open();
    remote.work<{ n: number }, number>('mail', async (job) => job.data.n * 2);
    await remote.enqueue('mail', 'double', { n: 21 }, { jobId: 'far' });
    await until(() => got.length === 1);
    expect(got).toEqual([['far', 42]]);
  });

  it('a local listener that throws gets the result again through the results queue', async () => {
    const q = opener()();
    let calls = 0;
    const got: unknown[] = [];
    q.listen('mail', {
      completed: (_job, r) => {
        calls++;
        if (calls === 1) throw new Error('database busy');
        got.push(r);
      },
    });
    q.work<{ n: number }, number>('mail', async (job) => job.data.n * 2);
    await q.enqueue('mail', 'double', { n: 4 });
    await until(() => got.length === 1);
    expect(got).toEqual([8]);
    expect(calls).toBe(2);
    await until(async () => (await q.counts('mail')).completed === 1);
  });
});
