/**
 * Redis restarted under running BullMQ workers (the scale-out driver). Redis runs as production
 * should (append-only file, fsync always), in a private instance the test can stop and start.
 *   - queue level: every job finishes and every result reaches the database owner;
 *   - mail level (`mailroom start`'s composition with redis_url): a burst of mail keeps being
 *     produced while Redis is down; every mail is delivered exactly once once Redis is back, none
 *     lost (including the ones whose enqueue failed during the outage), none doubled.
 * (The queue-level test moved here from test/queue/bullmq-restart.test.ts.)
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { createBullmqQueue } from '../../src/queue/bullmq-queue.ts';
import type { JobQueue } from '../../src/queue/index.ts';
import { binary, type RunningRedis, startRedis, startSmtpPeer, tempDir } from '../harness/index.ts';
import { until } from '../queue/helpers.ts';
import { duplicates, messageIdOf, sleep, tally, withDb, writeConfig } from './crash-kit.ts';

const redisBin = binary('redis');
const cleanup: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

async function durableRedis(): Promise<RunningRedis> {
  const r = await startRedis(redisBin as string, { durableDir: tempDir() });
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

describe.skipIf(!redisBin)('Redis restarted while BullMQ workers run', () => {
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

  it('mail queued before, during and after the outage is delivered exactly once', async () => {
    const redis = await durableRedis();
    const peer = await startSmtpPeer();
    cleanup.push(() => peer.close());
    const dir = tempDir('mailroom-faults-redis-');
    const config = loadConfig({
      configPath: writeConfig(dir, {
        data_dir: './data',
        redis_url: redis.url,
        mail: { domain: 'shop.example', from: 'Lotus Tea House <support@shop.example>' },
        smtp: { host: peer.host, port: peer.port, max_connections: 2, timeout_s: 10 },
        queue: { concurrency: 4 },
      }),
      env: {},
    });
    // The relay checks every second here instead of every 10 s, to keep the test short.
    const app = await createApp({ config, logger: silentLogger(), outboxRelayMs: 1000 });
    cleanup.push(() => app.stop(5000));
    await app.start(['workers', 'scheduler']);

    const N = 60;
    const sample = app.mail.renderer.sample('order-confirmation', 'en');
    let refused = 0;
    const produce = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        try {
          await app.mail.sendTemplate({
            idempotencyKey: `redis-${i}`,
            template: 'order-confirmation',
            locale: 'en',
            to: `buyer${i}@customer.example`,
            data: sample,
            customerId: null,
            kind: 'transactional',
          });
        } catch {
          // Redis is away: the outbox row is committed, its enqueue failed (as an order event or
          // an acknowledgement would see it). The mail must still go out once Redis is back.
          refused++;
        }
        await sleep(30);
      }
    };
    // Before, during and after the outage; the workers are mid-burst when Redis goes.
    await produce(0, 20);
    await redis.stop();
    await produce(20, 35);
    await sleep(500);
    await redis.start();
    await produce(35, N);
    expect(refused, 'some mail was produced while Redis was down').toBeGreaterThan(0);

    const dbFile = path.join(dir, 'data', 'mailroom.sqlite');
    const statuses = () =>
      withDb(dbFile, (db) => db.prepare('SELECT status, count(*) AS n FROM outbox GROUP BY status').all());
    await until(() => peer.received.length >= N, 60_000).catch(() => {
      throw new Error(
        `only ${peer.received.length} of ${N} delivered (refused ${refused}); outbox: ${JSON.stringify(statuses())} ${JSON.stringify(withDb(dbFile, (db) => db.prepare("SELECT id, status FROM outbox WHERE status != 'sent'").all()))}`,
      );
    });
    await until(
      () =>
        (
          withDb(dbFile, (db) =>
            db.prepare("SELECT count(*) AS n FROM outbox WHERE status = 'sent'").get(),
          ) as {
            n: number;
          }
        ).n === N,
      30_000,
    ).catch(() => {
      throw new Error(`outbox not all sent: ${JSON.stringify(statuses())}`);
    });
    await sleep(500);
    const ids = peer.received.map((m) => messageIdOf(m.raw));
    expect(duplicates(ids)).toEqual([]);
    expect(tally(peer.received.flatMap((m) => m.to)).size).toBe(N);
  }, 90_000);
});
