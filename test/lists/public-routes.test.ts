import Fastify from 'fastify';
import nodemailer from 'nodemailer';
import { afterEach, describe, expect, it } from 'vitest';
import { createList, unsubscribeLinks } from '../../src/lists/index.ts';
import { listsPublicRoutes } from '../../src/web/lists/public.ts';
import { startSmtpPeer } from '../harness/index.ts';
import { linkFrom, setupLists, type TestLists } from './helpers.ts';

const WORDING = 'Yes, send me the monthly shop news. I can leave at any time.';
let open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of open) await o.close();
  open = [];
});

async function server(t: TestLists, limit?: { max: number; timeWindowMs: number }) {
  const app = Fastify();
  await app.register(listsPublicRoutes, { lists: t.deps, ...(limit ? { subscribeLimit: limit } : {}) });
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

describe('public list pages', () => {
  it('double opt-in: subscribe sends a mail, its link confirms and records consent with wording, IP and agent', async () => {
    const t = setupLists();
    createList(t.db, { slug: 'news', name: 'Shop news', consentWording: WORDING }, t.clock.now());
    const app = await server(t);
    const res = await app.inject({
      method: 'POST',
      url: '/lists/news/subscribe',
      payload: 'email=Ann%40Example.com&name=Ann',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'TestBrowser/1' },
    });
    expect(res.statusCode).toBe(202);
    expect(membership(t, 'ann@example.com')?.status).toBe('pending');
    expect(t.outbox).toHaveLength(1);
    const confirm = linkFrom(t.outbox[0]?.text ?? '', '/lists/confirm');
    const ok = await app.inject({ method: 'GET', url: confirm, headers: { 'user-agent': 'MailClient/2' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('You are subscribed to Shop news');
    expect(membership(t, 'ann@example.com')?.status).toBe('confirmed');
    const consent = t.db.prepare(`SELECT * FROM list_consents WHERE action = 'confirm'`).get() as Record<
      string,
      unknown
    >;
    expect(consent).toMatchObject({ source: 'form', wording: WORDING, user_agent: 'MailClient/2' });
    expect(consent.ip).toBeTruthy();
  });

  it('answers the same whether or not the address is already subscribed', async () => {
    const t = setupLists();
    createList(t.db, { slug: 'news', name: 'Shop news', consentWording: WORDING }, t.clock.now());
    const app = await server(t);
    const post = () =>
      app.inject({ method: 'POST', url: '/lists/news/subscribe', payload: { email: 'bo@example.com' } });
    const first = await post();
    await app.inject({ method: 'GET', url: linkFrom(t.outbox[0]?.text ?? '', '/lists/confirm') });
    const again = await post();
    expect(again.statusCode).toBe(first.statusCode);
    expect(again.body).toBe(first.body);
    expect(t.outbox).toHaveLength(1);
  });

  it('sends at most one confirmation mail per address per quarter hour, however often the form is posted', async () => {
    const t = setupLists();
    createList(t.db, { slug: 'news', name: 'Shop news', consentWording: WORDING }, t.clock.now());
    const app = await server(t);
    const post = () =>
      app.inject({ method: 'POST', url: '/lists/news/subscribe', payload: { email: 'victim@example.com' } });
    for (let i = 0; i < 5; i++) expect((await post()).statusCode).toBe(202);
    expect(t.outbox).toHaveLength(1);
    t.clock.advance(16 * 60_000);
    await post();
    expect(t.outbox).toHaveLength(2);
  });

  it('ignores a request whose honeypot field is filled, with the same answer', async () => {
    const t = setupLists();
    createList(t.db, { slug: 'news', name: 'Shop news', consentWording: WORDING }, t.clock.now());
    const app = await server(t);
    const res = await app.inject({
      method: 'POST',
      url: '/lists/news/subscribe',
      payload: { email: 'bot@example.com', website: 'http://spam.example' },
    });
    expect(res.statusCode).toBe(202);
    expect(t.outbox).toHaveLength(0);
    expect(membership(t, 'bot@example.com')).toBeUndefined();
  });

  it('rate-limits subscribe requests', async () => {
    const t = setupLists();
    createList(t.db, { slug: 'news', name: 'Shop news', consentWording: WORDING }, t.clock.now());
    const app = await server(t, { max: 2, timeWindowMs: 60_000 });
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await app.inject({
        method: 'POST',
        url: '/lists/news/subscribe',
        payload: { email: `p${i}@example.com` },
      });
      codes.push(r.statusCode);
    }
    expect(codes).toEqual([202, 202, 429]);
  });

  it('GET on the unsubscribe link shows a preference page and never unsubscribes; one-click POST does', async () => {
    const t = setupLists();
    const list = createList(
      t.db,
      { slug: 'news', name: 'Shop news', consentWording: WORDING, optin: 'single' },
      t.clock.now(),
    );
    const app = await server(t);
    await app.inject({ method: 'POST', url: '/lists/news/subscribe', payload: { email: 'cy@example.com' } });
    const subId = (t.db.prepare('SELECT id FROM subscribers').get() as { id: number }).id;
    const links = unsubscribeLinks(t.deps, list.id, subId, 'cy@example.com');
    expect(links.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    const path = new URL(links.url).pathname;
    for (let i = 0; i < 3; i++) {
      const g = await app.inject({ method: 'GET', url: path });
      expect(g.statusCode).toBe(200);
      expect(g.body).toContain('<button type="submit">Unsubscribe</button>');
    }
    expect(membership(t, 'cy@example.com')?.status).toBe('confirmed');
    const p = await app.inject({
      method: 'POST',
      url: path,
      payload: 'List-Unsubscribe=One-Click',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(p.statusCode).toBe(200);
    expect(membership(t, 'cy@example.com')?.status).toBe('unsubscribed');
  });

  it('sends the welcome mail after confirmation when the list asks for it', async () => {
    const t = setupLists();
    createList(t.db, { slug: 'news', name: 'News', consentWording: WORDING, welcome: true }, t.clock.now());
    const app = await server(t);
    await app.inject({ method: 'POST', url: '/lists/news/subscribe', payload: { email: 'wel@example.com' } });
    const confirm = linkFrom(t.outbox[0]?.text ?? '', '/lists/confirm');
    await app.inject({ method: 'GET', url: confirm });
    await app.inject({ method: 'GET', url: confirm });
    expect(t.outbox.map((m) => m.subject)).toEqual([
      'Please confirm your subscription to News',
      'Welcome to News',
    ]);
    expect(t.outbox[1]?.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
  });

  it('re-subscribing after unsubscribe needs a new confirmation', async () => {
    const t = setupLists();
    const list = createList(t.db, { slug: 'news', name: 'N', consentWording: WORDING }, t.clock.now());
    const app = await server(t);
    const sub = () =>
      app.inject({ method: 'POST', url: '/lists/news/subscribe', payload: { email: 'dee@example.com' } });
    await sub();
    const firstConfirm = linkFrom(t.outbox[0]?.text ?? '', '/lists/confirm');
    await app.inject({ method: 'GET', url: firstConfirm });
    const subId = (t.db.prepare('SELECT id FROM subscribers').get() as { id: number }).id;
    const u = new URL(unsubscribeLinks(t.deps, list.id, subId, 'dee@example.com').url).pathname;
    await app.inject({ method: 'POST', url: u });
    expect(membership(t, 'dee@example.com')?.status).toBe('unsubscribed');
    await sub();
    expect(membership(t, 'dee@example.com')?.status).toBe('pending');
    expect(t.outbox).toHaveLength(2);
  });

  it('full double opt-in through a real SMTP server: the link in the received mail confirms', async () => {
    const peer = await startSmtpPeer();
    open.push(peer);
    const transport = nodemailer.createTransport({ host: peer.host, port: peer.port, secure: false });
    const t = setupLists({
      send: async (m) => {
        await transport.sendMail({
          from: 'news@shop.example.com',
          to: m.to,
          subject: m.subject,
          text: m.text,
          html: m.html,
          headers: m.headers,
        });
      },
    });
    createList(t.db, { slug: 'news', name: '店铺新闻', consentWording: WORDING }, t.clock.now());
    const app = await server(t);
    await app.inject({
      method: 'POST',
      url: '/lists/news/subscribe',
      payload: { email: 'zh@example.com', locale: 'zh-CN' },
    });
    const [mail] = await peer.waitFor(1);
    expect(mail?.to).toEqual(['zh@example.com']);
    const unfolded = (mail?.raw ?? '').replace(/=\r?\n/g, '').replace(/=3D/g, '=');
    const r = await app.inject({ method: 'GET', url: linkFrom(unfolded, '/lists/confirm') });
    expect(r.statusCode).toBe(200);
    expect(membership(t, 'zh@example.com')?.status).toBe('confirmed');
    transport.close();
  });
});
