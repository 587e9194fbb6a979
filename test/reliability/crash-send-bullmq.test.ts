/**
 * The BullMQ send path (`mailroom worker`, and `mailroom start`'s own workers when on Redis) keeps
 * the data_sent stage with the job in Redis: a worker SIGKILLed after handing over the end of
 * DATA, while the server has not yet replied, is not followed by a second copy when the job comes
 * back from BullMQ's stalled check. The database owner records the row as `uncertain`.
 * Real parts: redis-server, the smtp-server peer, a worker child process killed with SIGKILL.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/lib/index.ts';
import {
  createRemoteSendHandler,
  createSmtpTransport,
  OUTBOUND_QUEUE,
  type SendJobData,
  type SendResult,
} from '../../src/outbound/index.ts';
import { createBullmqQueue } from '../../src/queue/bullmq-queue.ts';
import type { JobQueue } from '../../src/queue/index.ts';
import { binary, type RunningRedis, type SmtpPeer, startRedis, startSmtpPeer } from '../harness/index.ts';
import { HERE, sigkill, sleep, spawnNode, until } from './crash-kit.ts';

const CHILD = path.join(HERE, 'bullmq-send-child.ts');

function rawMail(id: string): string {
  const body = 'x'.repeat(40_000); // several DATA chunks
  return Buffer.from(
    `From: shop@example.com\r\nTo: c@example.net\r\nSubject: order\r\nMessage-ID: <${id}>\r\n\r\n${body}\r\n`,
  ).toString('base64');
}

describe('crash safety: a BullMQ worker killed between the end of DATA and the reply', () => {
  let redis: RunningRedis;
  let peer: SmtpPeer;
  const queues: JobQueue[] = [];
  beforeAll(async () => {
    redis = await startRedis(binary('redis') as string);
    peer = await startSmtpPeer();
  });
  afterAll(async () => {
    for (const q of queues) await q.close();
    await peer?.close();
    await redis?.stop();
  });

  it('does not send a second copy when the job comes back; the result is reported uncertain', async () => {
    const prefix = `crash-bull-${Date.now()}`;
    const redisUrl = redis.url;
    const owner = createBullmqQueue({ redisUrl, prefix, logger: silentLogger() });
    queues.push(owner);
    const results: SendResult[] = [];
    owner.listen(OUTBOUND_QUEUE, { completed: (_j, r) => void results.push(r as SendResult) });
    // The peer holds its reply to DATA long enough for the kill to land before it.
    peer.setFaults([{ kind: 'stall', ms: 1500, times: 1 }]);
    const child = spawnNode(CHILD, [], {
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      SMTP_PORT: String(peer.port),
    });
    await until('the worker child to start', () => child.output().includes('ready'), 30_000);
    const data: SendJobData = {
      outboxId: 1,
      messageId: 'crash-1@example.com',
      envelope: { from: 'shop@example.com', to: ['c@example.net'] },
      raw: rawMail('crash-1@example.com'),
    };
    await owner.enqueue(OUTBOUND_QUEUE, 'send', data, { jobId: 'outbox-1', attempts: 5 });
    await until('the end of DATA at the peer', () => peer.dataEnds >= 1, 30_000);
    await sigkill(child);
    // The stalled reply lands on a dead connection; the peer keeps the mail (it had all of it).
    await peer.waitFor(1, 10_000);

    // A fresh worker (as after a restart) gets the job back from BullMQ's stalled check.
    const worker = createBullmqQueue({
      redisUrl,
      prefix,
      logger: silentLogger(),
      lockDurationMs: 1500,
      stalledIntervalMs: 500,
    });
    queues.push(worker);
    const transport = createSmtpTransport({
      smtp: { host: '127.0.0.1', port: peer.port, tls: 'none', max_connections: 1, timeout_s: 30 },
      logger: silentLogger(),
    });
    worker.work(OUTBOUND_QUEUE, createRemoteSendHandler({ transport, logger: silentLogger() }));
    await until('the job to be reported again', () => results.length >= 1, 60_000, 50);
    await sleep(500);
    expect(results.map((r) => r.status)).toEqual(['uncertain']);
    expect(peer.dataEnds).toBe(1);
    expect(peer.received.filter((m) => m.raw.includes('crash-1@example.com'))).toHaveLength(1);
  });

  it('still resends after a definite SMTP 451 that came after the end of DATA', async () => {
    const prefix = `crash-bull-451-${Date.now()}`;
    const q = createBullmqQueue({ redisUrl: redis.url, prefix, logger: silentLogger() });
    queues.push(q);
    const results: SendResult[] = [];
    q.listen(OUTBOUND_QUEUE, { completed: (_j, r) => void results.push(r as SendResult) });
    peer.setFaults([{ kind: 'reply', stage: 'data', code: 451, times: 1 }]);
    const before = peer.received.length;
    const transport = createSmtpTransport({
      smtp: { host: '127.0.0.1', port: peer.port, tls: 'none', max_connections: 1, timeout_s: 30 },
      logger: silentLogger(),
    });
    q.work(OUTBOUND_QUEUE, createRemoteSendHandler({ transport, logger: silentLogger() }));
    await q.enqueue(
      OUTBOUND_QUEUE,
      'send',
      {
        outboxId: 2,
        messageId: 'retry-2@example.com',
        envelope: { from: 'shop@example.com', to: ['c@example.net'] },
        raw: rawMail('retry-2@example.com'),
      } satisfies SendJobData,
      { jobId: 'outbox-2', attempts: 3, backoff: { type: 'fixed', delayMs: 100 } },
    );
    await until('the retried send', () => results.length >= 1, 30_000, 50);
    expect(results.map((r) => r.status)).toEqual(['sent']);
    expect(peer.received.length - before).toBe(1);
  });
});
