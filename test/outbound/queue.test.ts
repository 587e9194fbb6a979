import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomId, silentLogger, systemClock } from '../../src/lib/index.ts';
import {
  createRemoteSendHandler,
  createSendHandler,
  getOutbox,
  isSuppressed,
  OUTBOUND_QUEUE,
  outboxResultEvents,
  queueMail,
  type SmtpSender,
  sendAgain,
} from '../../src/outbound/index.ts';
import { createBullmqQueue } from '../../src/queue/bullmq-queue.ts';
import { createEmbeddedQueue, type JobQueue } from '../../src/queue/index.ts';
import { redisInfo, type SmtpPeer, startSmtpPeer } from '../harness/index.ts';
import { memoryDb, settings } from './helpers.ts';
import { transportTo } from './smtp.ts';

async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 25_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let peer: SmtpPeer;
let transport: SmtpSender;
const queues: JobQueue[] = [];
beforeEach(async () => {
  peer = await startSmtpPeer();
  transport = transportTo(peer, 2);
});
afterEach(async () => {
  for (const q of queues.splice(0)) await q.close(3000);
  transport.close();
  await peer.close();
});

const drivers = [
  { name: 'embedded', redisUrl: undefined as string | undefined, remote: false },
  { name: 'bullmq (remote worker, results through listen)', redisUrl: redisInfo()?.url, remote: true },
];

describe.each(drivers)('outbound on the $name queue', ({ redisUrl, remote }) => {
  /** An in-memory database, this driver's queue, a send worker and the result listener. */
  function startOutbound() {
    const db = memoryDb();
    const logger = silentLogger();
    const queue = redisUrl
      ? createBullmqQueue({ redisUrl, logger, prefix: `mrtest-${randomId(4)}` })
      : createEmbeddedQueue({ db, clock: systemClock, logger });
    queues.push(queue);
    const deps = { db, queue, clock: systemClock, logger, compose: settings };
    queue.listen(OUTBOUND_QUEUE, outboxResultEvents(deps));
    queue.work(
      OUTBOUND_QUEUE,
      remote
        ? createRemoteSendHandler({ transport, logger, retryLaterMs: 50 })
        : createSendHandler({ ...deps, transport, retryLaterMs: 50 }),
      { concurrency: 2 },
    );
    return { db, deps };
  }

  it.skipIf(remote && !redisUrl)(
    'sends every queued mail exactly once through 421 and 451 replies, and records 550 as failed + suppressed',
    async () => {
      const { db, deps } = startOutbound();
      peer.setFaults([
        { kind: 'reply', stage: 'mail', code: 421, message: 'busy, come back later', times: 2 },
        { kind: 'reply', stage: 'data', code: 451, message: 'try again', times: 1 },
      ]);
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) {
        const q = await queueMail(deps, {
          kind: 'test',
          idempotencyKey: `k-${i}`,
          to: `customer${i}@example.com`,
          subject: `Mail ${i}`,
          html: `<p>${i}</p>`,
          text: `${i}\n`,
        });
        ids.push(q.outboxId);
      }
      await until(
        () => ids.every((id) => getOutbox(db, id)?.status === 'sent'),
        'every mail to be recorded as sent',
      );
      expect(peer.received).toHaveLength(5);
      const mids = peer.received.map((r) => /Message-ID: <([^>]+)>/i.exec(r.raw)?.[1]);
      expect(new Set(mids).size).toBe(5);
      for (const id of ids) expect(mids).toContain(getOutbox(db, id)?.message_id);

      peer.setFaults([{ kind: 'reply', stage: 'rcpt', code: 550, message: '5.1.1 unknown user', times: 1 }]);
      const bad = await queueMail(deps, {
        kind: 'test',
        idempotencyKey: 'k-bad',
        to: 'gone@example.com',
        subject: 'x',
        html: '<p>x</p>',
        text: 'x\n',
      });
      await until(() => getOutbox(db, bad.outboxId)?.status === 'failed', 'the 550 to be recorded');
      expect(getOutbox(db, bad.outboxId)?.last_response).toContain('5.1.1 unknown user');
      await until(
        () => db.prepare("SELECT 1 FROM suppressions WHERE address = 'gone@example.com'").get() !== undefined,
        'the suppression',
      );
    },
  );

  it.skipIf(remote && !redisUrl)(
    'staff send an uncertain mail again: one more copy, same Message-ID; sent and suppressed mail are refused',
    async () => {
      const { db, deps } = startOutbound();
      const write = (key: string, to: string) =>
        queueMail(deps, {
          kind: 'test',
          idempotencyKey: key,
          to,
          subject: key,
          html: '<p>x</p>',
          text: 'x\n',
        });
      // The connection breaks once the whole (one-chunk) mail has left: mailroom cannot know.
      peer.setFaults([{ kind: 'drop-mid-data', times: 1 }]);
      const cut = await write('cut', 'bo@example.com');
      await until(() => getOutbox(db, cut.outboxId)?.status === 'uncertain', 'the send to be uncertain');
      const before = peer.received.length;
      await sendAgain(deps, cut.outboxId, 'sam');
      await until(() => getOutbox(db, cut.outboxId)?.status === 'sent', 'the second send');
      const copies = peer.received.slice(before).filter((m) => m.raw.includes(`<${cut.messageId}>`));
      expect(copies).toHaveLength(1);
      expect(getOutbox(db, cut.outboxId)?.attempts).toBe(2);
      // Nothing more goes out, and a sent mail is not sent again.
      await new Promise((r) => setTimeout(r, 300));
      expect(peer.received.length).toBe(before + 1);
      await expect(sendAgain(deps, cut.outboxId, 'sam')).rejects.toThrow(/this one is sent/);

      peer.setFaults([{ kind: 'reply', stage: 'rcpt', code: 550, message: '5.1.1 unknown user', times: 1 }]);
      const gone = await write('gone', 'gone@example.com');
      await until(() => getOutbox(db, gone.outboxId)?.status === 'failed', 'the 550');
      await until(() => isSuppressed(db, 'gone@example.com', 'transactional'), 'the suppression');
      await expect(sendAgain(deps, gone.outboxId, 'sam')).rejects.toThrow(/suppression list \(hard_bounce\)/);
      expect(getOutbox(db, gone.outboxId)?.status).toBe('failed');
    },
  );
});
