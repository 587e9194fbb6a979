import { afterEach, describe, expect, it } from 'vitest';
import {
  appendMessages,
  createImapUser,
  dovecotInfo,
  type ImapUser,
  type ReceivedMail,
  type SmtpPeer,
  startSmtpPeer,
  waitForLogin,
} from '../harness/index.ts';
import { type Instance, sleep, startInstance, waitUntil } from './mailroom-instance.ts';

/**
 * Mail loops, end to end: real mailroom instances (createApp + poller, scheduler and send
 * workers), each with its own data dir and Dovecot mailbox, sending through a real SMTP peer.
 * A relay in this file plays the internet between them: whatever a peer accepts is delivered
 * by recipient domain into the other shop's IMAP mailbox, where that shop's poller picks it up,
 * and mail for anyone else reaches a "remote MTA" that may bounce it back to the envelope sender.
 */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const dovecot = () => dovecotInfo() as NonNullable<ReturnType<typeof dovecotInfo>>;

async function mailbox(): Promise<ImapUser> {
  const u = createImapUser(dovecot());
  await waitForLogin(u);
  return u;
}

/** Unfolded header fields removed by name, as a gateway that rewrites mail might. */
function stripHeaders(raw: string, names: string[]): string {
  const end = raw.search(/\r?\n\r?\n/);
  const head = end < 0 ? raw : raw.slice(0, end);
  const rest = end < 0 ? '' : raw.slice(end);
  const drop = new RegExp(`^(${names.join('|')}):`, 'i');
  const kept = head
    .split(/\r?\n(?![ \t])/)
    .filter((f) => !drop.test(f))
    .join('\r\n');
  return kept + rest;
}

interface Relay {
  /** Mail handed to each mailbox so far, by address. */
  delivered: Map<string, number>;
  errors: unknown[];
  /** True when every mail the peers accepted has been handed on. */
  idle(): boolean;
}

/**
 * Moves mail the SMTP peers accept to where it is addressed, in order, one at a time.
 * `external` gets mail for addresses outside the two shops (the rest of the internet).
 */
function relay(
  peers: SmtpPeer[],
  mailboxes: Record<string, ImapUser>,
  opts: {
    rewrite?: (raw: string) => string;
    external?: (mail: ReceivedMail, rcpt: string) => Promise<void>;
  } = {},
): Relay {
  const next = peers.map(() => 0);
  const delivered = new Map<string, number>();
  const errors: unknown[] = [];
  let busy = false;
  const pump = async () => {
    if (busy) return;
    busy = true;
    try {
      for (const [i, peer] of peers.entries()) {
        while ((next[i] as number) < peer.received.length) {
          const mail = peer.received[next[i] as number] as ReceivedMail;
          for (const rcpt of mail.to) {
            const box = mailboxes[rcpt.toLowerCase()];
            if (box) {
              await appendMessages(box, [opts.rewrite ? opts.rewrite(mail.raw) : mail.raw]);
              delivered.set(rcpt, (delivered.get(rcpt) ?? 0) + 1);
            } else await opts.external?.(mail, rcpt);
          }
          next[i] = (next[i] as number) + 1;
        }
      }
    } catch (err) {
      errors.push(err);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void pump(), 25);
  cleanups.push(() => clearInterval(timer));
  return {
    delivered,
    errors,
    idle: () => !busy && peers.every((p, i) => next[i] === p.received.length),
  };
}

const count = (inst: Instance, sql: string, ...args: unknown[]) =>
  (inst.app.db.prepare(sql).get(...args) as { n: number }).n;

const inbound = (inst: Instance) => count(inst, "SELECT count(*) n FROM messages WHERE direction = 'in'");
const unsent = (inst: Instance) =>
  count(inst, "SELECT count(*) n FROM outbox WHERE status NOT IN ('sent', 'suppressed', 'failed')");

/**
 * Waits until the whole system is at rest, and stays at rest for `quietMs`: every mail a peer
 * accepted is delivered, every delivered mail is ingested, every queued mail is sent. A loop
 * never comes to rest, so this times out instead (the assertions after it name the loop).
 */
async function settle(
  r: Relay,
  parts: Array<{ inst: Instance; address: string; seeded: number }>,
  quietMs = 3000,
) {
  const atRest = () =>
    r.idle() &&
    parts.every(
      (p) => inbound(p.inst) >= (r.delivered.get(p.address) ?? 0) + p.seeded && unsent(p.inst) === 0,
    );
  const snapshot = () => JSON.stringify(parts.map((p) => [inbound(p.inst), unsent(p.inst)]));
  await waitUntil('the exchange to come to rest', atRest, 20_000).catch(() => {});
  let seen = snapshot();
  const until = Date.now() + quietMs;
  while (Date.now() < until) {
    await sleep(250);
    const now = snapshot();
    if (now !== seen || !atRest()) return false;
    seen = now;
  }
  return true;
}

const SHOP_A = {
  from: 'Shop A Support <support@a.example>',
  domain: 'a.example',
  address: 'support@a.example',
};
const SHOP_B = {
  from: 'Shop B Support <support@b.example>',
  domain: 'b.example',
  address: 'support@b.example',
};
const ROLES = ['poller', 'scheduler', 'workers'] as const;

/** Two shops, each running mailroom with acknowledgements on, each a mailbox and a smarthost. */
async function twoShops(rewrite?: (raw: string) => string) {
  const [boxA, boxB, peerA, peerB] = await Promise.all([
    mailbox(),
    mailbox(),
    startSmtpPeer(),
    startSmtpPeer(),
  ]);
  cleanups.push(
    () => peerA.close(),
    () => peerB.close(),
  );
  const a = await startInstance({ ...SHOP_A, imap: boxA, smtp: peerA, roles: [...ROLES] });
  cleanups.push(() => a.stop());
  const b = await startInstance({ ...SHOP_B, imap: boxB, smtp: peerB, roles: [...ROLES] });
  cleanups.push(() => b.stop());
  const r = relay(
    [peerA, peerB],
    { [SHOP_A.address]: boxA, [SHOP_B.address]: boxB },
    rewrite ? { rewrite } : {},
  );
  return { a, b, boxA, boxB, peerA, peerB, relay: r };
}

/** A person at one shop writing to the other from the shared support address, today (older mail gets no acknowledgement). */
function personal(from: string, to: string, subject: string, id: string): string {
  return (
    `From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${id}>\r\n` +
    `Date: ${new Date().toUTCString()}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n` +
    'Hello, could you tell us when the next delivery of green tea is due?\r\n'
  );
}

const sentBy = (peer: SmtpPeer) => peer.received.length;
const autoReplies = (inst: Instance) =>
  count(inst, "SELECT count(*) n FROM outbox WHERE automatic = 'auto-replied'");

describe.skipIf(!dovecotInfo())('mail loops between auto-acknowledging mailroom instances', () => {
  it('two shops writing to each other: each acknowledges once, and neither answers the other acknowledgement', {
    timeout: 60_000,
  }, async () => {
    const s = await twoShops();
    // Both support addresses write to each other at the same moment.
    await appendMessages(s.boxA, [personal(SHOP_B.from, SHOP_A.address, 'Delivery dates', 'p1@b.example')]);
    await appendMessages(s.boxB, [personal(SHOP_A.from, SHOP_B.address, 'Order for spring', 'p2@a.example')]);
    await waitUntil('both acknowledgements', () => sentBy(s.peerA) >= 1 && sentBy(s.peerB) >= 1);
    const settled = await settle(s.relay, [
      { inst: s.a, address: SHOP_A.address, seeded: 1 },
      { inst: s.b, address: SHOP_B.address, seeded: 1 },
    ]);
    expect(s.relay.errors).toEqual([]);
    expect({ sentByA: sentBy(s.peerA), sentByB: sentBy(s.peerB) }).toEqual({ sentByA: 1, sentByB: 1 });
    expect(settled, 'the exchange came to rest').toBe(true);
    // Each shop received the other's acknowledgement, recognised it as automatic and let it be.
    for (const inst of [s.a, s.b]) {
      expect(autoReplies(inst)).toBe(1);
      const flags = inst.app.db
        .prepare("SELECT flags FROM messages WHERE direction = 'in' AND headers LIKE '%auto-submitted%'")
        .all() as Array<{ flags: string }>;
      expect(flags).toHaveLength(1);
      expect(JSON.parse(flags[0]?.flags ?? '[]')).toContain('auto_reply');
    }
  });

  it('even through a gateway that strips Auto-Submitted, X-Loop, Precedence and threading headers, each shop sends at most one acknowledgement', {
    timeout: 60_000,
  }, async () => {
    const strip = (raw: string) =>
      stripHeaders(raw, [
        'Auto-Submitted',
        'X-Loop',
        'Precedence',
        'X-Auto-Response-Suppress',
        'In-Reply-To',
        'References',
      ]);
    const s = await twoShops(strip);
    await appendMessages(s.boxA, [personal(SHOP_B.from, SHOP_A.address, 'Delivery dates', 'p3@b.example')]);
    // A acknowledges B; B, seeing no sign of a machine, acknowledges that; the per-address
    // window must keep A from answering B's acknowledgement, which would start the ping-pong.
    await waitUntil('the acknowledgement and its answer', () => sentBy(s.peerA) >= 1 && sentBy(s.peerB) >= 1);
    const settled = await settle(s.relay, [
      { inst: s.a, address: SHOP_A.address, seeded: 1 },
      { inst: s.b, address: SHOP_B.address, seeded: 0 },
    ]);
    expect(s.relay.errors).toEqual([]);
    expect({ sentByA: sentBy(s.peerA), sentByB: sentBy(s.peerB) }).toEqual({ sentByA: 1, sentByB: 1 });
    expect(settled, 'the exchange came to rest').toBe(true);
    // The stripped headers really were gone when B read A's acknowledgement.
    const atB = s.b.app.db.prepare("SELECT headers FROM messages WHERE direction = 'in'").get() as {
      headers: string;
    };
    expect(Object.keys(JSON.parse(atB.headers))).not.toContain('auto-submitted');
  });
});

/** A remote MTA that accepted our mail and now reports it undeliverable (RFC 3464 DSN). */
function dsn(kind: 'rfc3464-exchange' | 'qmail-text', mail: ReceivedMail, rcpt: string, n: number): string {
  const original = mail.raw.replace(/\r?\n$/, '');
  if (kind === 'qmail-text')
    return [
      'From: MAILER-DAEMON@mx.customer.example',
      `To: ${mail.from}`,
      'Subject: failure notice',
      `Message-ID: <bounce-${n}@mx.customer.example>`,
      `Date: ${new Date().toUTCString()}`,
      '',
      "Hi. This is the qmail-send program at mx.customer.example. I'm afraid I wasn't able to deliver your message.",
      '',
      `<${rcpt}>:`,
      'Sorry, no mailbox here by that name. (#5.1.1)',
      '',
      '--- Below this line is a copy of the message.',
      '',
      original,
      '',
    ].join('\r\n');
  // Exchange sends its reports from an ordinary-looking address: only the report itself says
  // that a machine wrote it.
  return [
    'From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@customer.example>',
    `To: ${mail.from}`,
    'Subject: Undeliverable: your message',
    `Message-ID: <ndr-${n}@customer.example>`,
    `Date: ${new Date().toUTCString()}`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="NDR"',
    '',
    '--NDR',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    `Delivery has failed to these recipients or groups: ${rcpt}`,
    '--NDR',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.customer.example',
    '',
    `Final-Recipient: rfc822; ${rcpt}`,
    'Action: failed',
    'Status: 5.1.10',
    'Diagnostic-Code: smtp; 550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found',
    '',
    '--NDR',
    'Content-Type: message/rfc822',
    '',
    original,
    '--NDR--',
    '',
  ].join('\r\n');
}

describe.skipIf(!dovecotInfo())('a bounce of our own auto-reply', () => {
  it.each(['rfc3464-exchange', 'qmail-text'] as const)(
    'a %s bounce of an acknowledgement is stored as a bounce and never answered',
    { timeout: 60_000 },
    async (kind) => {
      const [box, peer] = await Promise.all([mailbox(), startSmtpPeer()]);
      cleanups.push(() => peer.close());
      const a = await startInstance({ ...SHOP_A, imap: box, smtp: peer, roles: [...ROLES] });
      cleanups.push(() => a.stop());
      let bounces = 0;
      // The customer's server takes the acknowledgement, then finds no such mailbox and reports
      // back to the envelope sender, which is our own support mailbox.
      const r = relay(
        [peer],
        { [SHOP_A.address]: box },
        {
          external: async (mail, rcpt) => {
            if (!mail.from) return; // a null sender is never bounced
            bounces += 1;
            await appendMessages(box, [dsn(kind, mail, rcpt, bounces)]);
          },
        },
      );
      await appendMessages(box, [
        personal(
          'Gone Customer <gone@customer.example>',
          SHOP_A.address,
          'Where is my parcel?',
          'c1@customer.example',
        ),
      ]);
      await waitUntil('the acknowledgement', () => sentBy(peer) >= 1);
      await waitUntil('the bounce to be ingested', () => inbound(a) >= 2);
      const settled = await settle(r, [{ inst: a, address: SHOP_A.address, seeded: 1 + bounces }]);
      expect(r.errors).toEqual([]);
      expect(sentBy(peer), 'only the acknowledgement left, nothing answered the bounce').toBe(1);
      expect(bounces).toBe(1);
      expect(settled, 'nothing more happened').toBe(true);
      const bounce = a.app.db
        .prepare("SELECT flags FROM messages WHERE direction = 'in' ORDER BY id DESC LIMIT 1")
        .get() as { flags: string };
      expect(JSON.parse(bounce.flags)).toEqual(expect.arrayContaining(['bounce', 'auto_reply']));
      expect(autoReplies(a)).toBe(1);
      // The hard bounce also stops later mail to the dead address.
      expect(
        a.app.db.prepare('SELECT reason FROM suppressions WHERE address = ?').get('gone@customer.example'),
      ).toEqual({ reason: 'hard_bounce' });
    },
  );
});
