/**
 * SMTP faults, through the real send path (outbox row -> embedded queue -> send handler -> pooled
 * SMTP transport -> the smtp-server peer): each fault ends in the state src/outbound promises, with
 * no manual step.
 *   temporary (421, 451, 452, a stall before DATA, a drop while the message is still streaming):
 *     retried and delivered exactly once when the fault clears;
 *   permanent (550 to RCPT, 554 to DATA): failed with the server's reason; 550 5.1.1 (no such
 *     user) suppresses the address, a 5.7.1 policy rejection does not;
 *   the server gone silent or the connection cut after the last byte of DATA left us (stall past
 *     the timeout, a drop mid-DATA of a mail that fits in one chunk): `uncertain`, never resent,
 *     delivered at most once. That is the data_sent window of the exactly-once design.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, silentLogger, systemClock } from '../../src/lib/index.ts';
import {
  createSendHandler,
  createSmtpTransport,
  getOutbox,
  getSuppression,
  isSuppressed,
  OUTBOUND_QUEUE,
  type OutboxRow,
  outboxResultEvents,
  queueMail,
  type SmtpSender,
} from '../../src/outbound/index.ts';
import { createEmbeddedQueue, type JobQueue } from '../../src/queue/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';
import { type Fault, type SmtpPeer, startSmtpPeer } from '../harness/index.ts';
import { messageIdOf, until } from './crash-kit.ts';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A loopback proxy in front of the peer that can turn into a tarpit: accept, then say nothing. */
async function tarpitProxy(
  target: number,
): Promise<{ port: number; tarpit(on: boolean): void; close(): void }> {
  let tarpit = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    client.on('close', () => sockets.delete(client));
    if (tarpit) return; // never greet
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    tarpit: (on) => {
      tarpit = on;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

interface Rig {
  db: Db;
  peer: SmtpPeer;
  queue: JobQueue;
  send(key: string, opts?: { to?: string; bytes?: number }): Promise<number>;
  settled(id: number): Promise<OutboxRow>;
  delivered(id: number): number;
}

/** A mailroom send path against a fresh peer (optionally behind a tarpit proxy). */
async function rig(
  opts: { timeoutS?: number; port?: (peer: SmtpPeer) => Promise<number> } = {},
): Promise<Rig> {
  const peer = await startSmtpPeer();
  cleanup.push(() => peer.close());
  const db = openDatabase(':memory:');
  migrate(db);
  const logger = silentLogger();
  const queue = createEmbeddedQueue({ db, clock: systemClock, logger, pollMs: 20 });
  const port = opts.port ? await opts.port(peer) : peer.port;
  const transport: SmtpSender = createSmtpTransport({
    smtp: { host: '127.0.0.1', port, tls: 'none', max_connections: 1, timeout_s: opts.timeoutS ?? 10 },
    logger,
  });
  cleanup.push(async () => {
    await queue.close(1000);
    transport.close();
    db.close();
  });
  queue.listen(OUTBOUND_QUEUE, outboxResultEvents({ db, clock: systemClock, logger }));
  // As src/app.ts wires it, with the 421 "come back later" delay cut from 60 s to 0.3 s.
  queue.work(
    OUTBOUND_QUEUE,
    createSendHandler({ db, clock: systemClock, logger, transport, retryLaterMs: 300 }),
    {
      concurrency: 2,
    },
  );
  const deps = {
    db,
    queue,
    clock: new ManualClock(Date.now()),
    logger,
    compose: { domain: 'shop.example', from: 'Shop <support@shop.example>', departments: {} },
  };
  return {
    db,
    peer,
    queue,
    async send(key, o = {}) {
      const filler = o.bytes ? `${'x'.repeat(76)}\n`.repeat(Math.ceil(o.bytes / 77)) : '';
      const q = await queueMail(deps, {
        kind: 'test',
        idempotencyKey: key,
        to: o.to ?? `${key}@customer.example`,
        subject: `Mail ${key}`,
        html: `<p>${key}</p>`,
        text: `${key}\n${filler}`,
      });
      return q.outboxId;
    },
    async settled(id) {
      await until(
        `outbox ${id} to settle`,
        () => ['sent', 'failed', 'uncertain'].includes(getOutbox(db, id)?.status ?? ''),
        30_000,
        20,
      );
      return getOutbox(db, id) as OutboxRow;
    },
    delivered(id) {
      const mid = getOutbox(db, id)?.message_id;
      return peer.received.filter((m) => messageIdOf(m.raw) === mid).length;
    },
  };
}

async function temporary(fault: Fault): Promise<void> {
  const r = await rig();
  r.peer.setFaults([fault]);
  const id = await r.send('temp');
  const row = await r.settled(id);
  expect(row).toMatchObject({ status: 'sent', send_stage: 'done' });
  expect(row.attempts, 'tried again after the fault').toBeGreaterThanOrEqual(2);
  expect(r.delivered(id)).toBe(1);
  expect(r.peer.received).toHaveLength(1);
}

describe('SMTP faults end in the right state, with no manual step', () => {
  it('421 (try later) to MAIL FROM: retried after the asked delay, delivered once', async () => {
    await temporary({
      kind: 'reply',
      stage: 'mail',
      code: 421,
      message: '4.7.0 Too many connections',
      times: 2,
    });
  });

  it('451 to DATA (local error): retried with backoff, delivered once', async () => {
    await temporary({
      kind: 'reply',
      stage: 'data',
      code: 451,
      message: '4.3.0 Temporary local problem',
      times: 1,
    });
  });

  it('452 to RCPT (insufficient storage): retried with backoff, delivered once', async () => {
    await temporary({
      kind: 'reply',
      stage: 'rcpt',
      code: 452,
      message: '4.3.1 Insufficient system storage',
      times: 1,
    });
  });

  it('550 5.1.1 to RCPT: failed with the reason, address suppressed, nothing delivered', async () => {
    const r = await rig();
    r.peer.setFaults([
      { kind: 'reply', stage: 'rcpt', code: 550, message: '5.1.1 No such user here', times: 1 },
    ]);
    const id = await r.send('gone', { to: 'gone@customer.example' });
    const row = await r.settled(id);
    expect(row.status).toBe('failed');
    expect(row.attempts).toBe(1);
    expect(row.last_response).toContain('5.1.1 No such user here');
    expect(getSuppression(r.db, 'gone@customer.example')).toMatchObject({ reason: 'hard_bounce' });
    expect(isSuppressed(r.db, 'gone@customer.example', 'transactional')).toBe(true);
    // The next mail to that address is not even queued.
    const next = await r.send('gone-again', { to: 'gone@customer.example' });
    expect(getOutbox(r.db, next)?.status).toBe('suppressed');
    expect(r.peer.received).toHaveLength(0);
    // The job's own failure commits with the queue's next group of outcomes, just after the row's.
    const failedJobs = async () => (await r.queue.counts(OUTBOUND_QUEUE)).failed;
    for (let waited = 0; (await failedJobs()) !== 1 && waited < 5000; waited += 20)
      await new Promise((res) => setTimeout(res, 20));
    expect(await failedJobs()).toBe(1);
  });

  it('554 5.7.1 to DATA (policy): failed with the reason, address not suppressed', async () => {
    const r = await rig();
    r.peer.setFaults([
      { kind: 'reply', stage: 'data', code: 554, message: '5.7.1 Message rejected as spam', times: 1 },
    ]);
    const id = await r.send('spam', { to: 'reader@customer.example' });
    const row = await r.settled(id);
    expect(row.status).toBe('failed');
    expect(row.attempts).toBe(1);
    expect(row.last_response).toContain('5.7.1 Message rejected as spam');
    expect(getSuppression(r.db, 'reader@customer.example')).toBeUndefined();
    expect(r.peer.received).toHaveLength(0);
    // Fault gone: the next mail to the same reader goes out.
    const next = await r.send('spam-2', { to: 'reader@customer.example' });
    expect((await r.settled(next)).status).toBe('sent');
    expect(r.delivered(next)).toBe(1);
  });

  it('connection dropped while a large message streams: retried, delivered once', async () => {
    const r = await rig();
    r.peer.setFaults([{ kind: 'drop-mid-data', times: 1 }]);
    // 8 MB: the peer cuts the connection long before the last chunk is read, so the stage never
    // reaches data_sent and a resend is safe.
    const id = await r.send('big', { bytes: 8 * 1024 * 1024 });
    const row = await r.settled(id);
    expect(row).toMatchObject({ status: 'sent', send_stage: 'done' });
    expect(row.attempts).toBeGreaterThanOrEqual(2);
    expect(r.delivered(id)).toBe(1);
  });

  it('connection dropped mid-DATA of a one-chunk mail: uncertain, not resent (the data_sent window)', async () => {
    const r = await rig();
    r.peer.setFaults([{ kind: 'drop-mid-data', times: 1 }]);
    const id = await r.send('small');
    const row = await r.settled(id);
    // The whole message and its final dot had left us when the connection broke: the server may
    // have kept it, so it is presumed delivered. Here it had not: the window's price, one mail.
    expect(row).toMatchObject({ status: 'uncertain', attempts: 1 });
    expect(row.last_response).toMatch(/no reply after DATA/);
    await new Promise((res) => setTimeout(res, 500));
    expect(r.delivered(id)).toBeLessThanOrEqual(1);
    expect(getOutbox(r.db, id)?.attempts).toBe(1);
    // The queue moved on: the next mail goes out normally.
    const next = await r.send('small-2');
    expect((await r.settled(next)).status).toBe('sent');
    expect(r.delivered(next)).toBe(1);
  });

  it('server stalls past the timeout after DATA: uncertain, never resent, delivered at most once', async () => {
    const r = await rig({ timeoutS: 1 });
    r.peer.setFaults([{ kind: 'stall', ms: 2500, times: 1 }]);
    const id = await r.send('stalled');
    const row = await r.settled(id);
    expect(row).toMatchObject({ status: 'uncertain', attempts: 1 });
    // The stalled server finishes later and keeps the mail: one copy, because we did not resend.
    await r.peer.waitFor(1, 5000);
    await new Promise((res) => setTimeout(res, 300));
    expect(r.delivered(id)).toBe(1);
    expect(r.peer.received).toHaveLength(1);
  });

  it('server accepts TCP but never greets (stall before DATA): timed out, retried, delivered once', async () => {
    let proxy: Awaited<ReturnType<typeof tarpitProxy>> | undefined;
    const r = await rig({
      timeoutS: 1,
      port: async (peer) => {
        proxy = await tarpitProxy(peer.port);
        cleanup.push(() => proxy?.close());
        return proxy.port;
      },
    });
    proxy?.tarpit(true);
    const id = await r.send('tarpit');
    await until('a timed-out try', () => (getOutbox(r.db, id)?.last_response ?? '') !== '', 10_000, 20);
    expect(getOutbox(r.db, id)).toMatchObject({ status: 'queued', send_stage: 'none' });
    expect(getOutbox(r.db, id)?.last_response).toMatch(/greeting never received|timeout|timed out/i);
    proxy?.tarpit(false);
    const row = await r.settled(id);
    expect(row).toMatchObject({ status: 'sent', send_stage: 'done' });
    expect(r.delivered(id)).toBe(1);
  });
});
