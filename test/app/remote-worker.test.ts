import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { ManualClock, silentLogger } from '../../src/lib/index.ts';
import { SEND_QUEUE } from '../../src/lists/index.ts';
import { OUTBOUND_QUEUE } from '../../src/outbound/index.ts';
import { createQueue, type JobQueue } from '../../src/queue/index.ts';
import { migrate, openDatabase } from '../../src/store/index.ts';
import { binary, freePort, type RunningRedis, startRedis } from '../harness/index.ts';

const redisBin = binary('redis');
let redis: RunningRedis | undefined;
beforeAll(async () => {
  if (redisBin) redis = await startRedis(redisBin);
});
afterAll(async () => {
  await redis?.stop();
});

async function until(cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!redisBin)('a remote `mailroom worker` on BullMQ', () => {
  it('sends outbound mail but leaves campaign batches to the process that has the database', async () => {
    const url = (redis as RunningRedis).url;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-remote-'));
    const config = loadConfig({
      env: { MAILROOM_DATA_DIR: dir, MAILROOM_REDIS_URL: url, MAILROOM_PORT: String(await freePort()) },
      cwd: dir,
    });
    const worker = await createApp({ config, logger: silentLogger() });
    await worker.start(['workers']);

    // The database owner's side of Redis, as `mailroom start` would enqueue.
    const db = openDatabase(path.join(dir, 'producer.sqlite'));
    migrate(db);
    const producer: JobQueue = await createQueue({
      redisUrl: url,
      db,
      clock: new ManualClock(0),
      logger: silentLogger(),
    });
    try {
      await producer.enqueue(SEND_QUEUE, 'send', { sendId: 1 }, { jobId: 'cs1' });
      await producer.enqueue(OUTBOUND_QUEUE, 'send', { outboxId: 1 }, { jobId: 'ob1', attempts: 1 });
      await until(async () => {
        const c = await producer.counts(OUTBOUND_QUEUE);
        return c.completed + c.failed === 1;
      });
      // The outbound job was taken; the campaign batch still waits for its owner.
      expect(await producer.counts(SEND_QUEUE)).toMatchObject({ waiting: 1, active: 0, completed: 0 });
    } finally {
      await producer.close();
      await worker.stop(5000);
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
