/**
 * Every watched mailbox gets its own connection in IDLE (RFC 2177 reports on the selected
 * mailbox only), against real Dovecot. poll_interval_s is 300 s throughout, so mail that arrives
 * within seconds can only have come through IDLE (or, where the server has no IDLE, through the
 * polling fallback that the last suite turns on with a short interval).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ImapPoller } from '../../src/ingest/index.ts';
import {
  appendMessages,
  binary,
  createLoginReadyUser,
  dovecotInfo,
  type ImapUser,
  startDovecot,
} from '../harness/index.ts';
import { setup } from './helpers.ts';
import { account, count, messages, startPoller, startProxy, storedFrom, waitFor } from './imap-kit.ts';

const pollers: ImapPoller[] = [];
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await Promise.all(pollers.splice(0).map((p) => p.stop()));
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const allIdle = (p: ImapPoller) =>
  p.status()[0]?.state === 'idle' && (p.status()[0]?.connections ?? []).every((c) => c.state === 'idle');

/** Appends one message and returns how long the poller took to store it (ms). */
async function timeToIngest(t: ReturnType<typeof setup>, u: ImapUser, mailbox: string, tag: string) {
  const before = count(t);
  const started = Date.now();
  await appendMessages(u, messages(1, tag), mailbox);
  await waitFor(`${tag} in ${mailbox}`, () => count(t) === before + 1, 10_000);
  return Date.now() - started;
}

describe.skipIf(!dovecotInfo())('IMAP IDLE on every watched mailbox (real Dovecot)', () => {
  const dovecot = () => dovecotInfo() as NonNullable<ReturnType<typeof dovecotInfo>>;

  it('mail appended to the second watched mailbox while idle is stored within seconds', async () => {
    const t = setup();
    const u = await createLoginReadyUser(dovecot());
    await appendMessages(u, [], 'Sales');
    const p = startPoller(
      t,
      [account(u, { mailboxes: ['INBOX', 'Sales'] })],
      { shop: { password: u.pass } },
      pollers,
    );
    await waitFor('both mailboxes idle', () => allIdle(p));
    const st = p.status()[0];
    expect(st?.connections.map((c) => [c.mailbox, c.mode])).toEqual([
      ['INBOX', 'idle'],
      ['Sales', 'idle'],
    ]);

    const sales = await timeToIngest(t, u, 'Sales', 'sales');
    const inbox = await timeToIngest(t, u, 'INBOX', 'inbox');
    const sales2 = await timeToIngest(t, u, 'Sales', 'sales2');
    console.log(
      `IDLE latency: Sales ${sales} ms, INBOX ${inbox} ms, Sales again ${sales2} ms (poll interval 300 s)`,
    );
    for (const ms of [sales, inbox, sales2]) expect(ms).toBeLessThan(5000);
    expect(storedFrom(t).map((r) => [r.subject, r.mailbox])).toEqual([
      ['sales question 0', 'Sales'],
      ['inbox question 0', 'INBOX'],
      ['sales2 question 0', 'Sales'],
    ]);
    // Nothing was polled: both connections are still the first ones, never reconnected.
    expect(p.status()[0]?.reconnects).toBe(0);
    expect(p.status()[0]?.mailboxes.map((m) => [m.mailbox, m.ingested, m.lastError])).toEqual([
      ['INBOX', 1, null],
      ['Sales', 2, null],
    ]);
  });

  it("a broken mailbox backs off on its own; the account's other mailbox keeps ingesting", async () => {
    const t = setup();
    const u = await createLoginReadyUser(dovecot());
    const p = startPoller(
      t,
      [account(u, { mailboxes: ['Missing', 'INBOX'] })],
      { shop: { password: u.pass } },
      pollers,
    );
    await waitFor('INBOX idle', () => p.status()[0]?.connections[1]?.state === 'idle');
    await waitFor('Missing retried', () => (p.status()[0]?.connections[0]?.reconnects ?? 0) >= 2);
    const ms = await timeToIngest(t, u, 'INBOX', 'fine');
    expect(ms).toBeLessThan(5000);
    // The message is stored before its sync ends (checkpoint, counts); then the connection idles again.
    await waitFor('INBOX idle again', () => p.status()[0]?.connections[1]?.state === 'idle');
    const st = p.status()[0];
    expect(st?.connections[1]).toMatchObject({
      mailbox: 'INBOX',
      state: 'idle',
      lastError: null,
      reconnects: 0,
    });
    expect(st?.connections[0]?.lastError).toMatch(/Missing|exist/i);
    expect(st?.lastError).toBe(st?.connections[0]?.lastError);
    // Recorded where the health page and `mailroom accounts status` read it.
    expect(st?.mailboxes.find((m) => m.mailbox === 'Missing')?.lastError).toMatch(/Missing|exist/i);
    expect(st?.mailboxes.find((m) => m.mailbox === 'INBOX')?.lastError).toBeNull();

    // Once the mailbox exists, its connection recovers and takes its mail.
    await appendMessages(u, messages(2, 'late'), 'Missing');
    await waitFor('Missing recovered', () => count(t) === 3, 15_000);
    await waitFor('error cleared', () => p.status()[0]?.mailboxes[0]?.lastError === null);
  });

  it('after a drop, each mailbox reconnects and re-checks in full: mail that came while down is stored', async () => {
    const t = setup();
    const u = await createLoginReadyUser(dovecot());
    await appendMessages(u, [], 'Sales');
    const proxy = await startProxy(u.port);
    cleanup.push(() => proxy.close());
    const p = startPoller(
      t,
      [account(u, { port: proxy.port, mailboxes: ['INBOX', 'Sales'] })],
      { shop: { password: u.pass } },
      pollers,
    );
    await waitFor('both idle', () => allIdle(p));
    expect(proxy.connections()).toBe(2); // one connection per watched mailbox

    proxy.down(); // connections cut, and new ones refused: nobody is in IDLE now
    await waitFor('drop noticed', () => (p.status()[0]?.connections ?? []).every((c) => c.reconnects > 0));
    await appendMessages(u, messages(2, 'while-down'), 'Sales');
    await appendMessages(u, messages(1, 'while-down-inbox'), 'INBOX');
    await new Promise((r) => setTimeout(r, 300));
    expect(count(t)).toBe(0);
    proxy.up();
    await waitFor('re-checked after reconnect', () => count(t) === 3 && allIdle(p), 15_000);
    expect(storedFrom(t).filter((r) => r.mailbox === 'Sales')).toHaveLength(2);
    expect(proxy.connections()).toBe(2);
    // IDLE works again on the new connections.
    expect(await timeToIngest(t, u, 'Sales', 'after')).toBeLessThan(5000);
  });
});

describe.skipIf(!binary('dovecot'))('IMAP server without IDLE (private Dovecot)', () => {
  it('falls back to polling: mail is found within the configured poll interval', {
    timeout: 60_000,
  }, async () => {
    const server = await startDovecot(binary('dovecot') as string, { noIdle: true });
    cleanup.push(() => server.stop());
    const t = setup();
    const u = await createLoginReadyUser(server);
    await appendMessages(u, [], 'Sales');
    const p = startPoller(
      t,
      [account(u, { mailboxes: ['INBOX', 'Sales'], poll_interval_s: 2 })],
      { shop: { password: u.pass } },
      pollers,
    );
    await waitFor('both waiting', () => allIdle(p));
    expect(p.status()[0]?.connections.map((c) => c.mode)).toEqual(['poll', 'poll']);
    const ms = await timeToIngest(t, u, 'Sales', 'polled');
    console.log(`no-IDLE server, poll_interval_s 2: stored after ${ms} ms`);
    expect(ms).toBeLessThan(4500);
  });
});
