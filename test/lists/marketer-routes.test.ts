import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  applyComplaint,
  createCampaignRunner,
  sendTokenFromAddress,
  subscribe,
  unsubscribeByToken,
} from '../../src/lists/index.ts';
import { listsMarketerRoutes } from '../../src/web/lists/index.ts';
import { linkFrom, setupLists, type TestLists } from './helpers.ts';
import { testQueue } from './test-queue.ts';

let open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of open) await o.close();
  open = [];
});

async function server(t: TestLists) {
  const app = Fastify();
  const runner = createCampaignRunner({ deps: t.deps, queue: testQueue() });
  await app.register(listsMarketerRoutes, { prefix: '/api/marketing', lists: t.deps, runner });
  open.push(app, t.db);
  return app;
}

describe('marketer API', () => {
  it('creates a list, imports CSV, runs a campaign lifecycle and exports', async () => {
    const t = setupLists();
    const app = await server(t);
    const created = await app.inject({
      method: 'POST',
      url: '/api/marketing/lists',
      payload: { slug: 'news', name: 'News', consentWording: 'Send me news' },
    });
    expect(created.statusCode).toBe(201);
    const imp = await app.inject({
      method: 'POST',
      url: '/api/marketing/lists/news/import?consent=confirmed-elsewhere&wording=Signed%20up%20at%20the%20fair',
      payload: 'email,name\nann@example.com,Ann\n',
      headers: { 'content-type': 'text/csv' },
    });
    expect(imp.json()).toMatchObject({ confirmed: 1 });
    const dup = await app.inject({
      method: 'POST',
      url: '/api/marketing/lists',
      payload: { slug: 'news', name: 'Again', consentWording: 'x' },
    });
    expect(dup.statusCode).toBe(400);
    const listId = (created.json() as { id: number }).id;
    const c = await app.inject({
      method: 'POST',
      url: '/api/marketing/campaigns',
      payload: { name: 'Spring', listIds: [listId], template: 'news', subject: 'Spring sale' },
    });
    const id = (c.json() as { id: number }).id;
    const test = await app.inject({
      method: 'POST',
      url: `/api/marketing/campaigns/${id}/test`,
      payload: { to: ['boss@shop.example.com'] },
    });
    expect(test.json()).toEqual({ sent: 1 });
    const sched = await app.inject({
      method: 'POST',
      url: `/api/marketing/campaigns/${id}/schedule`,
      payload: { at: '2026-02-01T09:00:00Z' },
    });
    expect(sched.json()).toMatchObject({ progress: { status: 'scheduled' } });
    const bad = await app.inject({ method: 'POST', url: `/api/marketing/campaigns/${id}/resume` });
    expect(bad.statusCode).toBe(400);
    expect(
      (await app.inject({ method: 'POST', url: `/api/marketing/campaigns/${id}/cancel` })).json(),
    ).toMatchObject({ progress: { status: 'cancelled' } });
    const csv = await app.inject({ method: 'GET', url: '/api/marketing/lists/news/export.csv' });
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(csv.body).toContain('ann@example.com,Ann,,confirmed');
    const person = await app.inject({ method: 'GET', url: '/api/marketing/subscribers/ann@example.com' });
    expect(person.json()).toMatchObject({
      consents: [{ wording: 'Signed up at the fair', source: 'staff' }],
    });
    await app.inject({ method: 'POST', url: '/api/marketing/subscribers/ann@example.com/erase' });
    expect(
      (await app.inject({ method: 'GET', url: '/api/marketing/subscribers/ann@example.com' })).json(),
    ).toMatchObject({
      erased: true,
      subscriber: null,
    });
  });

  it('counts per campaign the recipients who unsubscribed after it reached them', async () => {
    const t = setupLists();
    const queue = testQueue();
    const runner = createCampaignRunner({ deps: t.deps, queue });
    runner.work();
    const app = Fastify();
    await app.register(listsMarketerRoutes, { prefix: '/api/marketing', lists: t.deps, runner });
    open.push(app, queue, t.db);
    const post = (url: string, payload?: object) =>
      app.inject({ method: 'POST', url: `/api/marketing${url}`, ...(payload ? { payload } : {}) });
    const news = (
      await post('/lists', { slug: 'news', name: 'News', consentWording: 'ok', optin: 'single' })
    ).json() as { id: number };
    const deals = (
      await post('/lists', { slug: 'deals', name: 'Deals', consentWording: 'ok', optin: 'single' })
    ).json() as { id: number };
    for (const email of ['ann@example.com', 'bob@example.com', 'cat@example.com', 'dan@example.com'])
      await subscribe(t.deps, { slug: 'news', email, name: null, source: 'staff' });
    await subscribe(t.deps, { slug: 'deals', email: 'dan@example.com', name: null, source: 'staff' });
    // Left before the campaign: skipped, never counted as its unsubscribe.
    await subscribe(t.deps, { slug: 'news', email: 'early@example.com', name: null, source: 'staff' });
    t.db
      .prepare(
        `UPDATE list_memberships SET status = 'unsubscribed', unsubscribed_at = 1
         WHERE subscriber_id = (SELECT id FROM subscribers WHERE email = 'early@example.com')`,
      )
      .run();

    const run = async (name: string) => {
      t.outbox.length = 0;
      const c = (
        await post('/campaigns', { name, listIds: [news.id], template: 'news', subject: name })
      ).json() as { id: number };
      await post(`/campaigns/${c.id}/start`);
      await runner.tick();
      await queue.drain();
      await runner.tick();
      t.clock.advance(60_000);
      return { id: c.id, mails: [...t.outbox] };
    };
    const token = (mails: Array<{ to: string; text: string }>, to: string) => {
      const mail = mails.find((m) => m.to === to);
      if (!mail) throw new Error(`no mail to ${to}`);
      return linkFrom(mail.text, '/u/').slice('/u/'.length);
    };
    const unsubscribed = async (id: number) =>
      (
        (await app.inject({ url: `/api/marketing/campaigns/${id}` })).json() as {
          progress: { sent: number; unsubscribed: number; complaints: number };
        }
      ).progress;

    const spring = await run('Spring');
    expect(await unsubscribed(spring.id)).toMatchObject({ sent: 4, unsubscribed: 0 });
    // Ann leaves through Spring's link; Bob complains (a complaint, not an unsubscribe here);
    // Dan leaves only the deals list, which Spring's link does not leave.
    unsubscribeByToken(t.deps, token(spring.mails, 'ann@example.com'), 'list', {});
    const bobMail = spring.mails.find((m) => m.to === 'bob@example.com');
    applyComplaint(t.deps, { sendToken: sendTokenFromAddress(bobMail?.envelopeFrom ?? '') ?? '' });
    t.db
      .prepare(
        `UPDATE list_memberships SET status = 'unsubscribed', unsubscribed_at = ?
         WHERE list_id = ? AND subscriber_id = (SELECT id FROM subscribers WHERE email = 'dan@example.com')`,
      )
      .run(t.clock.now(), deals.id);
    t.db
      .prepare(
        `INSERT INTO list_consents (subscriber_id, list_id, action, source, at)
         SELECT id, ?, 'unsubscribe', 'link', ? FROM subscribers WHERE email = 'dan@example.com'`,
      )
      .run(deals.id, t.clock.now());
    expect(await unsubscribed(spring.id)).toMatchObject({ unsubscribed: 1, complaints: 1 });

    // Summer reaches Cat and Dan later; Cat leaves every list after it: Summer's, not Spring's.
    t.clock.advance(60_000);
    const summer = await run('Summer');
    expect(summer.mails.map((m) => m.to).sort()).toEqual(['cat@example.com', 'dan@example.com']);
    unsubscribeByToken(t.deps, token(summer.mails, 'cat@example.com'), 'all', {});
    expect(await unsubscribed(spring.id)).toMatchObject({ unsubscribed: 1 });
    expect(await unsubscribed(summer.id)).toMatchObject({ sent: 2, unsubscribed: 1 });
  });
});
