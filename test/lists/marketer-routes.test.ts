import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createCampaignRunner } from '../../src/lists/index.ts';
import { listsMarketerRoutes } from '../../src/web/lists/index.ts';
import { setupLists, type TestLists } from './helpers.ts';
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
});
