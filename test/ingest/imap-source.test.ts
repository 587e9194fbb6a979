import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ImapAccountConfig } from '../../src/config/index.ts';
import { createImapPoller, type ImapPoller } from '../../src/ingest/index.ts';
import { randomId, silentLogger } from '../../src/lib/index.ts';
import {
  appendMessages,
  binary,
  createLoginReadyUser,
  dovecotInfo,
  type ImapUser,
  imapClient,
  startDovecot,
} from '../harness/index.ts';
import { flagsOf, setup } from './helpers.ts';

const pollers: ImapPoller[] = [];
afterEach(async () => {
  await Promise.all(pollers.splice(0).map((p) => p.stop()));
});

function account(u: ImapUser, over: Partial<ImapAccountConfig> = {}): ImapAccountConfig {
  return {
    id: 'shop',
    host: u.host,
    port: u.port,
    tls: 'none',
    user: u.user,
    mailboxes: ['INBOX'],
    after_ingest: 'leave',
    flag: '\\Seen',
    history: 'all',
    poll_interval_s: 3600,
    ...over,
  };
}

function messages(n: number, tag = randomId(4)): string[] {
  return Array.from(
    { length: n },
    (_, i) =>
      `From: buyer${i}@customer.example\r\nTo: support@shop.example\r\nSubject: ${tag} question ${i}\r\n` +
      `Message-ID: <${tag}-${i}@customer.example>\r\nDate: Mon, 5 Jan 2026 10:00:00 +0000\r\n\r\nHello ${i}\r\n`,
  );
}

function start(
  t: ReturnType<typeof setup>,
  accounts: ImapAccountConfig[],
  creds: Record<string, { password: string }>,
) {
  const poller = createImapPoller({
    accounts,
    credentials: creds,
    db: t.db,
    pipeline: t.pipeline,
    clock: t.clock,
    logger: silentLogger(),
    batchSize: 100,
    backoff: { baseMs: 50, maxMs: 500 },
  });
  pollers.push(poller);
  poller.start();
  return poller;
}

/** A loopback TCP proxy whose connections a test can cut, as a server restart does. */
async function startProxy(target: number): Promise<{ port: number; cut(): void; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

async function waitFor(what: string, fn: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const count = (t: ReturnType<typeof setup>) =>
  (t.db.prepare("SELECT count(*) n FROM messages WHERE direction = 'in'").get() as { n: number }).n;

describe.skipIf(!dovecotInfo())('IMAP ingest against real Dovecot', () => {
  const dovecot = () => dovecotInfo() as NonNullable<ReturnType<typeof dovecotInfo>>;

  it('first connect takes only mail that arrives from then on, and leaves old mail untouched', async () => {
    const t = setup();
    const u = await createLoginReadyUser(dovecot());
    await appendMessages(u, messages(3, 'old'));
    const p = start(t, [account(u, { history: 'new' })], { shop: { password: u.pass } });
    await waitFor('first sync', () => p.status()[0]?.lastSyncAt != null);
    await appendMessages(u, messages(2, 'fresh'));
    await waitFor('new mail', () => count(t) === 2);
    const subjects = t.db.prepare('SELECT subject FROM messages ORDER BY id').all();
    expect(subjects).toEqual([{ subject: 'fresh question 0' }, { subject: 'fresh question 1' }]);
    const c = imapClient(u);
    c.on('error', () => {});
    await c.connect();
    const st = await c.status('INBOX', { messages: true, unseen: true });
    await c.logout();
    expect(st).toMatchObject({ messages: 5, unseen: 5 });
  });

  it('new mail during IDLE is ingested within seconds, with no poll timer due', async () => {
    const t = setup();
    const u = await createLoginReadyUser(dovecot());
    const p = start(t, [account(u)], { shop: { password: u.pass } });
    await waitFor('idle', () => p.status()[0]?.state === 'idle');
    await appendMessages(u, messages(1, 'idle'));
    await waitFor('idle mail', () => count(t) === 1, 15_000);
  });

  it('after_ingest move puts ingested mail in the folder; status reconciles server and store', async () => {
    const t = setup();
    const u = await createLoginReadyUser(dovecot());
    await appendMessages(u, [], 'Done');
    await appendMessages(u, messages(3, 'mv'));
    const p = start(t, [account(u, { after_ingest: 'move', move_to: 'Done' })], {
      shop: { password: u.pass },
    });
    await waitFor('moved', () => count(t) === 3 && p.status()[0]?.mailboxes[0]?.serverMessages === 0, 20_000);
    const c = imapClient(u);
    c.on('error', () => {});
    await c.connect();
    const done = await c.status('Done', { messages: true });
    await c.logout();
    expect(done).toMatchObject({ messages: 3 });
    expect(p.status()[0]?.mailboxes[0]).toMatchObject({ ingested: 3, uidGaps: [], lastError: null });
  });

  it('after_ingest flag marks ingested mail \\Seen on the server and touches nothing else', async () => {
    const t = setup();
    const u = await createLoginReadyUser(dovecot());
    await appendMessages(u, messages(3, 'fl'));
    start(t, [account(u, { after_ingest: 'flag' })], { shop: { password: u.pass } });
    await waitFor('ingested', () => count(t) === 3);
    const c = imapClient(u);
    c.on('error', () => {});
    await c.connect();
    let st = await c.status('INBOX', { messages: true, unseen: true });
    for (let i = 0; i < 50 && (st === false || st.unseen !== 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      st = await c.status('INBOX', { messages: true, unseen: true });
    }
    await c.logout();
    expect(st).toMatchObject({ messages: 3, unseen: 0 });
  });

  it('history "since DATE" takes mail that arrived from that day, not older mail', async () => {
    const t = setup();
    const u = await createLoginReadyUser(dovecot());
    const [o1, o2, n1, n2] = messages(4, 'hist');
    await appendMessages(u, [
      { raw: o1 as string, date: new Date('2025-11-20T10:00:00Z') },
      { raw: o2 as string, date: new Date('2025-12-31T10:00:00Z') },
      { raw: n1 as string, date: new Date('2026-01-02T10:00:00Z') },
      { raw: n2 as string, date: new Date('2026-02-10T10:00:00Z') },
    ]);
    const p = start(t, [account(u, { history: 'since 2026-01-01' })], { shop: { password: u.pass } });
    await waitFor('first sync', () => p.status()[0]?.lastSyncAt != null && count(t) >= 2);
    const subjects = t.db.prepare('SELECT subject FROM messages ORDER BY subject').all();
    expect(subjects).toEqual([{ subject: 'hist question 2' }, { subject: 'hist question 3' }]);
  });

  it('an over-size message is stored as its headers with the oversize flag, never dropped', async () => {
    const t = setup({ config: { imap: { max_message_bytes: 4096 } } });
    const u = await createLoginReadyUser(dovecot());
    const big =
      'From: big@customer.example\r\nTo: support@shop.example\r\nSubject: huge scan\r\n' +
      'Message-ID: <big-1@customer.example>\r\n\r\n' +
      'x'.repeat(76).concat('\r\n').repeat(200);
    await appendMessages(u, [big, ...messages(1, 'small')]);
    const poller = createImapPoller({
      accounts: [account(u)],
      credentials: { shop: { password: u.pass } },
      db: t.db,
      pipeline: t.pipeline,
      clock: t.clock,
      logger: silentLogger(),
      batchSize: 100,
      maxMessageBytes: 4096,
      backoff: { baseMs: 50, maxMs: 500 },
    });
    pollers.push(poller);
    poller.start();
    await waitFor('both stored', () => count(t) === 2);
    const row = t.db
      .prepare(
        "SELECT id, subject, size, text_body AS text FROM messages WHERE message_id = 'big-1@customer.example'",
      )
      .get() as { id: number; subject: string; size: number; text: string | null };
    expect(row.subject).toBe('huge scan');
    expect(row.size).toBeGreaterThan(4096);
    expect(row.text ?? '').not.toContain('xxxx');
    expect(flagsOf(t.db, row.id)).toContain('oversize');
  });

  it('a UID below the checkpoint that was never taken in is reported as a gap', async () => {
    const t = setup();
    const u = await createLoginReadyUser(dovecot());
    await appendMessages(u, messages(3, 'gap'));
    const p = start(t, [account(u)], { shop: { password: u.pass } });
    await waitFor('3 stored', () => count(t) === 3 && p.status()[0]?.state === 'idle');
    t.db.prepare('DELETE FROM ingest_uids WHERE uid = 2').run();
    await appendMessages(u, messages(1, 'gap2'));
    await waitFor('gap reported', () => (p.status()[0]?.mailboxes[0]?.uidGaps ?? []).includes(2));
    expect(p.status()[0]?.mailboxes[0]).toMatchObject({ serverMessages: 4, uidGaps: [2] });
  });

  it('a UIDVALIDITY change (mailbox recreated) resyncs without storing anything twice', async () => {
    const t = setup();
    const u = await createLoginReadyUser(dovecot());
    const first = messages(3, 'uv');
    await appendMessages(u, first, 'Shop');
    const acct = account(u, { mailboxes: ['Shop'] });
    let p = start(t, [acct], { shop: { password: u.pass } });
    await waitFor('3 stored', () => count(t) === 3);
    await p.stop();
    const before = t.db.prepare('SELECT uid_validity FROM ingest_checkpoints').get() as {
      uid_validity: string;
    };
    const c = imapClient(u);
    c.on('error', () => {});
    await c.connect();
    await c.mailboxDelete('Shop');
    await c.logout();
    await new Promise((r) => setTimeout(r, 1100)); // Dovecot's UIDVALIDITY is a timestamp in seconds
    await appendMessages(u, [...first, ...messages(1, 'uv-new')], 'Shop');
    p = start(t, [acct], { shop: { password: u.pass } });
    await waitFor('resynced', () => count(t) === 4 && p.status()[0]?.state === 'idle');
    const after = t.db.prepare('SELECT uid_validity, last_uid FROM ingest_checkpoints').get() as {
      uid_validity: string;
      last_uid: number;
    };
    expect(after.uid_validity).not.toBe(before.uid_validity);
    expect(after.last_uid).toBe(4);
    expect(count(t)).toBe(4);
  });

  it('one broken account never stalls the others', async () => {
    const t = setup();
    const u = await createLoginReadyUser(dovecot());
    await appendMessages(u, messages(2, 'ok'));
    const bad = account(u, { id: 'broken', user: 'nobody@example.com' });
    const p = start(t, [bad, account(u)], { shop: { password: u.pass }, broken: { password: 'wrong' } });
    await waitFor('good account', () => count(t) === 2);
    await waitFor('bad account reported', () => (p.status()[0]?.reconnects ?? 0) > 0);
    expect(p.status()[0]?.lastError).toBeTruthy();
  });

  it('5,000 messages in one mailbox are all ingested exactly once', { timeout: 300_000 }, async () => {
    const t = setup();
    const u = await createLoginReadyUser(dovecot());
    await appendMessages(u, messages(5000, 'bulk5k'));
    const p = start(t, [account(u)], { shop: { password: u.pass } });
    await waitFor('5000 stored', () => count(t) === 5000 && p.status()[0]?.state === 'idle', 280_000);
    expect(p.status()[0]?.mailboxes[0]).toMatchObject({ serverMessages: 5000, ingested: 5000, uidGaps: [] });
  });
});

describe.skipIf(!binary('dovecot'))('IMAP ingest across a server restart (private Dovecot)', () => {
  it('Dovecot restarted mid-fetch: reconnect, nothing lost, nothing twice', {
    timeout: 180_000,
  }, async () => {
    const server = await startDovecot(binary('dovecot') as string);
    try {
      const t = setup();
      const u = await createLoginReadyUser(server);
      const n = 1500;
      await appendMessages(u, messages(n, 'restart'));
      const proxy = await startProxy(server.port);
      const p = start(t, [account(u, { port: proxy.port })], { shop: { password: u.pass } });
      await waitFor('fetch under way', () => count(t) >= 100, 60_000);
      expect(count(t)).toBeLessThan(n);
      // Dovecot's imap processes outlive a master restart in -F mode, so the restart alone keeps
      // our session; the proxy drops the connection the way a real restart does.
      proxy.cut();
      await server.restart();
      await waitFor('all stored', () => count(t) === n && p.status()[0]?.state === 'idle', 150_000);
      const distinct = t.db.prepare('SELECT count(DISTINCT message_id) n FROM messages').get() as {
        n: number;
      };
      expect(distinct.n).toBe(n);
      expect(t.db.prepare('SELECT count(*) n FROM ingest_uids').get()).toEqual({ n });
      expect(p.status()[0]?.reconnects).toBeGreaterThan(0);
      proxy.close();
    } finally {
      await Promise.all(pollers.splice(0).map((p) => p.stop()));
      await server.stop();
    }
  });
});
