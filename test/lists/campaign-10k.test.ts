import nodemailer from 'nodemailer';
import { describe, expect, it } from 'vitest';
import { parseDsn } from '../../src/ingest/index.ts';
import { randomId, silentLogger } from '../../src/lib/index.ts';
import {
  applyBounce,
  createCampaign,
  createCampaignRunner,
  createList,
  progress,
  sendTokenFromAddress,
  startCampaign,
  suppressionReason,
} from '../../src/lists/index.ts';
import { createQueue } from '../../src/queue/index.ts';
import {
  appendMessages,
  createImapUser,
  dovecotInfo,
  imapClient,
  redisInfo,
  startSmtpPeer,
} from '../harness/index.ts';
import { setupLists } from './helpers.ts';

/** A DSN as a receiving MTA would send it back to our VERP address. */
function dsnFor(rcpt: string, envelopeFrom: string, i: number): string {
  return [
    'From: Mail Delivery System <MAILER-DAEMON@mx.example.net>',
    `To: ${envelopeFrom}`,
    `Subject: Undelivered Mail Returned to Sender ${i}`,
    `Message-ID: <dsn-${i}@mx.example.net>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
    '',
    '--B',
    'Content-Type: text/plain',
    '',
    'Your message could not be delivered.',
    '--B',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.net',
    '',
    `Final-Recipient: rfc822; ${rcpt}`,
    'Action: failed',
    'Status: 5.1.1',
    'Diagnostic-Code: smtp; 550 5.1.1 user unknown',
    '--B--',
    '',
  ].join('\r\n');
}

/** Sends a campaign to n subscribers through the given driver, then feeds 1% hard bounces back via IMAP. */
async function campaignWithBounces(N: number, redisUrl: string | undefined): Promise<void> {
  const peer = await startSmtpPeer();
  const transport = nodemailer.createTransport({
    host: peer.host,
    port: peer.port,
    pool: true,
    maxConnections: 1,
  });
  const t = setupLists({
    settings: { ratePerSecond: 100_000, perDomainPerSecond: 100_000, dispatchBatch: 5000 },
    send: async (m) => {
      await transport.sendMail({
        from: t.deps.from,
        to: m.to,
        subject: m.subject,
        text: m.text,
        headers: m.headers,
        envelope: { from: m.envelopeFrom, to: m.to },
      });
    },
  });
  const list = createList(t.db, { slug: 'news', name: 'News', consentWording: 'ok' }, 1);
  t.db.transaction(() => {
    const s = t.db.prepare('INSERT INTO subscribers (email, created_at, updated_at) VALUES (?, 1, 1)');
    const m = t.db.prepare(
      `INSERT INTO list_memberships (list_id, subscriber_id, status, created_at, requested_at) VALUES (?, ?, 'confirmed', 1, 1)`,
    );
    for (let i = 0; i < N; i++) m.run(list.id, s.run(`s${i}@d${i % 20}.example`).lastInsertRowid);
  })();
  const queue = await createQueue({
    redisUrl,
    prefix: `t${randomId(4).replace(/[^a-z0-9]/gi, '')}`,
    db: t.db,
    clock: t.clock,
    logger: silentLogger(),
  });
  const runner = createCampaignRunner({ deps: t.deps, queue, concurrency: 16 });
  runner.work();
  const c = createCampaign(t.db, { name: 'Big', listIds: [list.id], template: 'news', subject: 'News' }, 1);
  startCampaign(t.db, c.id, t.clock.now());
  // The clock stands still: the throttle allows everyone in one window, and job leases never run out.
  while (progress(t.db, c.id).status === 'running') {
    await runner.tick();
    await new Promise((r) => setTimeout(r, 100));
  }
  await queue.close();
  expect(progress(t.db, c.id)).toMatchObject({ status: 'done', sent: N });
  const seen = new Set(peer.received.flatMap((m) => m.to));
  expect(peer.received).toHaveLength(N);
  expect(seen.size).toBe(N);

  // 1% hard bounces come back to the VERP address in the bounce mailbox.
  const bouncing = peer.received.filter((_m, i) => i % 100 === 7);
  const box = createImapUser(dovecotInfo() as NonNullable<ReturnType<typeof dovecotInfo>>);
  await appendMessages(
    box,
    bouncing.map((m, i) => dsnFor(m.to[0] as string, m.from, i)),
  );
  const client = imapClient(box);
  client.on('error', () => {});
  await client.connect();
  const raws: string[] = [];
  const lock = await client.getMailboxLock('INBOX');
  try {
    for await (const msg of client.fetch('1:*', { source: true }))
      raws.push(msg.source?.toString('utf8') ?? '');
  } finally {
    lock.release();
    await client.logout();
  }
  expect(raws).toHaveLength(N / 100);
  for (const raw of raws) {
    const to = /^To: (.+)$/m.exec(raw)?.[1] ?? '';
    const status =
      /Content-Type: message\/delivery-status\r?\n\r?\n([\s\S]*?)\r?\n--B--/.exec(raw)?.[1] ?? '';
    for (const r of parseDsn(status)?.recipients ?? [])
      applyBounce(t.deps, {
        recipient: r.recipient,
        status: r.status,
        hard: r.kind === 'hard',
        sendToken: sendTokenFromAddress(to),
      });
  }
  expect(progress(t.db, c.id)).toMatchObject({ status: 'done', bounced: N / 100, sent: N - N / 100 });
  for (const m of bouncing) expect(suppressionReason(t.deps, m.to[0] as string)).toBe('bounced');
  transport.close();
  await peer.close();
  t.db.close();
}

describe.skipIf(!dovecotInfo())('campaign with bounces fed back through IMAP', () => {
  it('embedded queue: 10,000 subscribers each get it once; 1% hard bounces are suppressed without pausing', async () => {
    await campaignWithBounces(10_000, undefined);
  }, 240_000);

  it.skipIf(!redisInfo())(
    'BullMQ queue: 2,000 subscribers each get it once; 1% hard bounces are suppressed',
    async () => {
      await campaignWithBounces(2_000, redisInfo()?.url);
    },
    240_000,
  );
});
