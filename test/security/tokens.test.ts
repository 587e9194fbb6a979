import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createList, signToken } from '../../src/lists/index.ts';
import { listsPublicRoutes } from '../../src/web/lists/public.ts';
import { SECRET, setupLists, type TestLists } from '../lists/helpers.ts';
import { dbFingerprint, type FullApp, mailText, startFullApp } from './helpers.ts';

/**
 * Confirm and unsubscribe links carry `action.list.subscriber.expiry.mac`, the MAC also covering
 * the subscriber's address. Here the real links, as mailed by the running app, are tampered with.
 */

let f: FullApp;
const tokens = { annAlphaConfirm: '', annBetaConfirm: '', bobAlphaConfirm: '', annAlphaUnsub: '' };
const listIds = { alpha: 0, beta: 0 };
const subIds = { ann: 0, bob: 0 };

function status(email: string, slug: string): string | undefined {
  return (
    f.db
      .prepare(
        `SELECT m.status FROM list_memberships m JOIN subscribers s ON s.id = m.subscriber_id
         JOIN lists l ON l.id = m.list_id WHERE s.email = ? AND l.slug = ?`,
      )
      .get(email, slug) as { status: string } | undefined
  )?.status;
}

/** Raw bytes of the newest queued mail to `to` whose text matches `re`, and the match. */
async function fromOutbox(to: string, re: RegExp): Promise<string> {
  const rows = f.db.prepare('SELECT raw FROM outbox WHERE to_addr = ? ORDER BY id DESC').all(to) as {
    raw: Buffer;
  }[];
  for (const r of rows) {
    const raw = Buffer.from(r.raw).toString('utf8');
    const m = re.exec(`${raw.replace(/\r\n[ \t]/g, ' ')}\n${await mailText(r.raw)}`);
    if (m?.[1]) return m[1];
  }
  throw new Error(`no mail to ${to} matching ${re}`);
}

const CONFIRM = /\/lists\/confirm\?token=([0-9a-z.]+)/;
const UNSUB = /^List-Unsubscribe: <[^>]*\/u\/([0-9a-z.]+)>/m;

/** Every variant of the token with exactly one character changed (to another valid character). */
function oneCharChanges(token: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < token.length; i++) {
    const c = token[i] as string;
    const repl = c === '.' ? '0' : c === '0' ? '1' : c === 'f' ? 'e' : '0';
    out.push(`${token.slice(0, i)}${repl}${token.slice(i + 1)}`);
  }
  return out;
}

/** The token with one dot-separated part replaced (1: list, 2: subscriber), MAC kept. */
const withPart = (token: string, part: number, value: number) =>
  token
    .split('.')
    .map((p, i) => (i === part ? value.toString(36) : p))
    .join('.');

beforeAll(async () => {
  f = await startFullApp();
  const now = f.clock.now();
  listIds.alpha = createList(
    f.db,
    { slug: 'alpha', name: 'Alpha', consentWording: 'Yes', welcome: true },
    now,
  ).id;
  listIds.beta = createList(f.db, { slug: 'beta', name: 'Beta', consentWording: 'Yes' }, now).id;
  for (const [email, slug] of [
    ['ann@example.com', 'alpha'],
    ['ann@example.com', 'beta'],
    ['bob@example.com', 'alpha'],
  ] as const) {
    const res = await f.web.inject({
      method: 'POST',
      url: `/lists/${slug}/subscribe`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ email }).toString(),
    });
    expect(res.statusCode).toBe(202);
  }
  const sub = (email: string) =>
    (f.db.prepare('SELECT id FROM subscribers WHERE email = ?').get(email) as { id: number }).id;
  subIds.ann = sub('ann@example.com');
  subIds.bob = sub('bob@example.com');
  const confirmFor = async (email: string, list: number, sub: number) => {
    const rows = f.db.prepare('SELECT raw FROM outbox WHERE to_addr = ?').all(email) as { raw: Buffer }[];
    for (const r of rows) {
      const t = CONFIRM.exec(await mailText(r.raw))?.[1];
      if (t?.startsWith(`c.${list.toString(36)}.${sub.toString(36)}.`)) return t;
    }
    throw new Error(`no confirmation for ${email} on list ${list}`);
  };
  tokens.annAlphaConfirm = await confirmFor('ann@example.com', listIds.alpha, subIds.ann);
  tokens.annBetaConfirm = await confirmFor('ann@example.com', listIds.beta, subIds.ann);
  tokens.bobAlphaConfirm = await confirmFor('bob@example.com', listIds.alpha, subIds.bob);
});

afterAll(async () => {
  await f?.close();
});

describe('confirmation links', () => {
  it('refuse any one-character change, another subscriber’s or list’s id in the token, and use as an unsubscribe link', async () => {
    const t = tokens.annAlphaConfirm;
    const before = dbFingerprint(f.db);
    const forged = [
      ...oneCharChanges(t),
      withPart(t, 2, subIds.bob), // ann's link pointed at bob
      withPart(t, 1, listIds.beta), // list A's link used on list B
      withPart(withPart(t, 1, listIds.beta), 2, subIds.bob),
      `${t}0`,
      t.slice(0, -1),
      t.split('.').slice(0, 4).join('.'),
      `${t.split('.').slice(0, 4).join('.')}.${tokens.bobAlphaConfirm.split('.')[4]}`, // bob's MAC
    ];
    for (const tok of forged) {
      const res = await f.web.inject({ url: `/lists/confirm?token=${encodeURIComponent(tok)}` });
      expect(res.statusCode, tok).toBe(400);
      expect(res.body, tok).not.toContain('subscribed to');
    }
    for (const tok of [t, `u${t.slice(1)}`]) {
      const res = await f.web.inject({ method: 'POST', url: `/u/${tok}`, payload: {} });
      expect(res.statusCode, tok).toBe(400);
    }
    expect(dbFingerprint(f.db)).toBe(before);
    // The real link still works, and confirms exactly ann on alpha.
    const ok = await f.web.inject({ url: `/lists/confirm?token=${t}` });
    expect(ok.statusCode).toBe(200);
    expect([status('ann@example.com', 'alpha'), status('ann@example.com', 'beta')]).toEqual([
      'confirmed',
      'pending',
    ]);
    expect(status('bob@example.com', 'alpha')).toBe('pending');
  });
});

describe('unsubscribe links', () => {
  beforeAll(async () => {
    for (const tok of [tokens.annBetaConfirm, tokens.bobAlphaConfirm])
      expect((await f.web.inject({ url: `/lists/confirm?token=${tok}` })).statusCode).toBe(200);
    // Alpha sends a welcome mail: its List-Unsubscribe header carries the real one-click link.
    tokens.annAlphaUnsub = await fromOutbox('ann@example.com', UNSUB);
    expect(
      tokens.annAlphaUnsub.startsWith(`u.${listIds.alpha.toString(36)}.${subIds.ann.toString(36)}.`),
    ).toBe(true);
  });

  it('refuse any one-character change, another subscriber or list, and never show whose address a forged link is for', async () => {
    const t = tokens.annAlphaUnsub;
    const before = dbFingerprint(f.db);
    const forged = [
      ...oneCharChanges(t),
      withPart(t, 2, subIds.bob),
      withPart(t, 1, listIds.beta), // alpha's link used on beta
      withPart(t, 1, 0), // "every list"
      `c${t.slice(1)}`,
      tokens.annBetaConfirm,
    ];
    for (const tok of forged) {
      const page = await f.web.inject({ url: `/u/${encodeURIComponent(tok)}` });
      expect(page.statusCode, tok).toBe(400);
      expect(page.body, tok).not.toMatch(/ann@|bob@/);
      const oneClick = await f.web.inject({
        method: 'POST',
        url: `/u/${encodeURIComponent(tok)}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'List-Unsubscribe=One-Click',
      });
      expect(oneClick.statusCode, tok).toBe(400);
    }
    expect(dbFingerprint(f.db)).toBe(before);
    const memberships = () => [
      status('ann@example.com', 'alpha'),
      status('ann@example.com', 'beta'),
      status('bob@example.com', 'alpha'),
    ];
    expect(memberships()).toEqual(['confirmed', 'confirmed', 'confirmed']);

    // The mailto form: a tampered token in unsubscribe+TOKEN@ does not unsubscribe ann.
    for (const tok of [oneCharChanges(t)[t.length - 1] as string, withPart(t, 2, subIds.bob)]) {
      const raw = Buffer.from(
        [
          'From: mallory@evil.example',
          `To: unsubscribe+${tok}@${f.config.mail.domain}`,
          'Subject: unsubscribe',
          `Message-ID: <unsub-${tok}@evil.example>`,
          '',
          'unsubscribe',
          '',
        ].join('\r\n'),
      );
      await f.app.pipeline.ingestRaw(raw, { kind: 'import', file: 'unsubscribe.eml' });
    }
    expect(memberships()).toEqual(['confirmed', 'confirmed', 'confirmed']);
    // The control: bob's real mailto token, sent from any address, does unsubscribe bob.
    const bobs = await fromOutbox('bob@example.com', UNSUB);
    await f.app.pipeline.ingestRaw(
      Buffer.from(
        `From: someone@example.net\r\nTo: unsubscribe+${bobs}@${f.config.mail.domain}\r\nSubject: x\r\nMessage-ID: <bob-unsub@example.net>\r\n\r\nx\r\n`,
      ),
      { kind: 'import', file: 'unsubscribe.eml' },
    );
    expect(memberships()).toEqual(['confirmed', 'confirmed', 'unsubscribed']);

    // The real link unsubscribes exactly ann from alpha.
    const res = await f.web.inject({
      method: 'POST',
      url: `/u/${t}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    });
    expect(res.statusCode).toBe(200);
    expect(memberships()).toEqual(['unsubscribed', 'confirmed', 'unsubscribed']);
  });
});

// Moved here from test/lists/public-routes.test.ts: tokens signed with another secret, for another
// address or action, and past their expiry, against the list routes alone.
describe('signing, address binding and expiry', () => {
  const WORDING = 'Yes, send me the monthly shop news. I can leave at any time.';
  let open: Array<{ close(): unknown }> = [];
  afterEach(async () => {
    for (const o of open) await o.close();
    open = [];
  });

  async function server(t: TestLists) {
    const app = Fastify();
    await app.register(listsPublicRoutes, { lists: t.deps });
    open.push(app, t.db);
    return app;
  }

  function membership(t: TestLists, email: string) {
    return t.db
      .prepare(
        `SELECT m.status FROM list_memberships m JOIN subscribers s ON s.id = m.subscriber_id WHERE s.email = ?`,
      )
      .get(email) as { status: string } | undefined;
  }

  it('refuses forged, expired and other-address tokens', async () => {
    const t = setupLists();
    const list = createList(t.db, { slug: 'news', name: 'N', consentWording: WORDING }, t.clock.now());
    const app = await server(t);
    for (const e of ['a@example.com', 'b@example.com'])
      await app.inject({ method: 'POST', url: '/lists/news/subscribe', payload: { email: e } });
    const [a, b] = t.db.prepare('SELECT id, email FROM subscribers ORDER BY id').all() as Array<{
      id: number;
      email: string;
    }>;
    if (!a || !b) throw new Error('subscribers missing');
    const exp = t.clock.now() + 3600_000;
    const forged = signToken(
      'wrong-secret',
      { action: 'confirm', listId: list.id, subscriberId: a.id, expiresAt: exp },
      a.email,
    );
    // A valid token for A, with B's subscriber id swapped in: the MAC binds the address.
    const forA = signToken(
      SECRET,
      { action: 'confirm', listId: list.id, subscriberId: a.id, expiresAt: exp },
      a.email,
    );
    const swapped = forA.replace(/^c\.([^.]+)\.[^.]+\./, `c.$1.${b.id.toString(36)}.`);
    const forBWithA = signToken(
      SECRET,
      { action: 'confirm', listId: list.id, subscriberId: b.id, expiresAt: exp },
      a.email,
    );
    for (const tok of [forged, swapped, forBWithA, 'garbage']) {
      const r = await app.inject({ method: 'GET', url: `/lists/confirm?token=${tok}` });
      expect(r.statusCode).toBe(400);
    }
    const unsubForA = signToken(
      SECRET,
      { action: 'unsubscribe', listId: list.id, subscriberId: a.id, expiresAt: exp },
      a.email,
    );
    const wrongAction = await app.inject({ method: 'GET', url: `/lists/confirm?token=${unsubForA}` });
    expect(wrongAction.statusCode).toBe(400);
    const post = await app.inject({ method: 'POST', url: `/u/${forged.replace(/^c/, 'u')}` });
    expect(post.statusCode).toBe(400);
    t.clock.advance(3600_000 + 2000);
    const expired = await app.inject({ method: 'GET', url: `/lists/confirm?token=${forA}` });
    expect(expired.statusCode).toBe(400);
    expect(expired.body).toContain('expired');
    expect(membership(t, 'a@example.com')?.status).toBe('pending');
    expect(membership(t, 'b@example.com')?.status).toBe('pending');
  });
});
