import type { Browser } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, randomId, silentLogger } from '../../src/lib/index.ts';
import { createBullmqQueue } from '../../src/queue/bullmq-queue.ts';
import { type BullmqJobQueue, bullmqQueuesOf, createEmbeddedQueue } from '../../src/queue/index.ts';
import { BULL_BOARD_CSP, STAFF_CSP } from '../../src/web/security-headers.ts';
import { binary, launchBrowser, redisInfo } from '../harness/index.ts';
import { addUser, login, makeWeb, PASSWORD, type TestWeb } from './helpers.ts';

const redis = redisInfo();

let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** A BullMQ queue on the harness's Redis, with a prefix and queue names of this test only. */
function bullQueue(): { queue: BullmqJobQueue; names: string[] } {
  const queue = createBullmqQueue({
    redisUrl: (redis as { url: string }).url,
    logger: silentLogger(),
    prefix: `mr-dash-${randomId(6)}`,
  });
  cleanups.push(() => queue.close(500));
  return { queue, names: [`outbound-${randomId(4)}`, `campaign-send-${randomId(4)}`] };
}

async function webWith(queues: { queue: BullmqJobQueue; names: string[] } | null): Promise<TestWeb> {
  const web = await makeWeb({
    queueCounts: async () => ({ outbound: { waiting: 1, active: 0, delayed: 0, completed: 0, failed: 0 } }),
    ...(queues ? { bullmqQueues: () => bullmqQueuesOf(queues.queue, queues.names) } : {}),
  });
  cleanups.push(
    () => web.db.close(),
    () => web.app.close(),
  );
  await addUser(web.db, 'boss', 'admin');
  await addUser(web.db, 'agent', 'agent', ['sales']);
  return web;
}

describe('queue status for admins', () => {
  it('shows the counts table and no dashboard on the embedded queue; /admin/queues leads to it', async () => {
    const web = await webWith(null);
    const boss = await login(web.app, 'boss');
    const health = await web.app.inject({ url: '/admin/health', headers: { cookie: boss.cookie } });
    expect(health.body).toContain('<h2 id="queues">Queues</h2>');
    expect(health.body).toContain('<td>outbound</td><td>1</td>');
    expect(health.body).not.toContain('bull-board-link');
    expect(health.body).toContain('href="/admin/queues" id="nav-queues"');
    const go = await web.app.inject({ url: '/admin/queues', headers: { cookie: boss.cookie } });
    expect(go.statusCode).toBe(302);
    expect(go.headers.location).toBe('/admin/health#queues');
    // Nothing is mounted where the dashboard would be.
    const none = await web.app.inject({ url: '/admin/queues/bull/', headers: { cookie: boss.cookie } });
    expect(none.statusCode).toBe(404);
  });

  it('returns null for the embedded driver, so the web layer shows the table', async () => {
    const web = await webWith(null);
    const q = createEmbeddedQueue({ db: web.db, clock: new ManualClock(0), logger: silentLogger() });
    cleanups.push(() => q.close(100));
    expect(bullmqQueuesOf(q, ['outbound'])).toBeNull();
  });
});

describe.skipIf(!redis)('bull-board on BullMQ', () => {
  it('shows admins the dashboard and its API lists our queues with their jobs', async () => {
    const q = bullQueue();
    const [outbound, sends] = q.names as [string, string];
    await q.queue.enqueue(outbound, 'send', { outboxId: 1 }, { jobId: 'ob-1' });
    await q.queue.enqueue(outbound, 'send', { outboxId: 2 }, { jobId: 'ob-2', delayMs: 60_000 });
    const web = await webWith(q);
    const boss = await login(web.app, 'boss');

    const health = await web.app.inject({ url: '/admin/health', headers: { cookie: boss.cookie } });
    expect(health.body).toContain('href="/admin/queues/bull/" id="bull-board-link"');
    const go = await web.app.inject({ url: '/admin/queues', headers: { cookie: boss.cookie } });
    expect(go.statusCode).toBe(302);
    expect(go.headers.location).toBe('/admin/queues/bull/');

    const page = await web.app.inject({ url: '/admin/queues/bull/', headers: { cookie: boss.cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('<base href="/admin/queues/bull/"');
    expect(page.body).toContain('id="__UI_CONFIG__"');
    // The dashboard links back to the health page, which links to it.
    expect(page.body).toContain('"url":"/admin/health#queues"');
    // Its own, relaxed policy; every other page keeps the staff one.
    expect(page.headers['content-security-policy']).toBe(BULL_BOARD_CSP);
    expect(health.headers['content-security-policy']).toBe(STAFF_CSP);
    expect(page.headers['x-frame-options']).toBe('DENY');
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();
    const js = await web.app.inject({
      url: `/admin/queues/bull/${script}`,
      headers: { cookie: boss.cookie },
    });
    expect(js.statusCode).toBe(200);

    const api = await web.app.inject({
      url: '/admin/queues/bull/api/queues?activeQueue=&page=1&jobsPerPage=10',
      headers: { cookie: boss.cookie },
    });
    expect(api.statusCode).toBe(200);
    const body = api.json() as {
      queues: Array<{ name: string; readOnlyMode: boolean; counts: Record<string, number> }>;
    };
    const names = body.queues.map((x) => x.name).sort();
    expect(names).toEqual([outbound, sends].sort());
    const ob = body.queues.find((x) => x.name === outbound);
    expect(ob?.readOnlyMode).toBe(true);
    expect(ob?.counts).toMatchObject({ waiting: 1, delayed: 1 });

    // Read-only: a job cannot be changed from the dashboard (and without our CSRF token the
    // staff guard refuses it first).
    const retry = await web.app.inject({
      method: 'PUT',
      url: `/admin/queues/bull/api/queues/${encodeURIComponent(outbound)}/retry/failed`,
      headers: { cookie: boss.cookie },
    });
    expect(retry.statusCode).toBe(403);
  });

  it('gives agents 403 and sends anonymous visitors to the login page, on pages and API alike', async () => {
    const web = await webWith(bullQueue());
    const agent = await login(web.app, 'agent');
    for (const url of ['/admin/queues/bull/', '/admin/queues/bull/api/queues', '/admin/queues']) {
      const a = await web.app.inject({ url, headers: { cookie: agent.cookie } });
      expect(a.statusCode, url).toBe(403);
      expect(a.headers['content-security-policy'], url).toBe(STAFF_CSP);
      const anon = await web.app.inject({ url });
      expect(anon.statusCode, url).toBe(302);
      expect(anon.headers.location, url).toBe(`/login?next=${encodeURIComponent(url)}`);
    }
    const page = await web.app.inject({ url: '/admin/health', headers: { cookie: agent.cookie } });
    expect(page.body).not.toContain('nav-queues');
  });
});

describe.skipIf(!redis || !binary('chromium'))('bull-board in a real browser', () => {
  it('renders the dashboard with our queue under our CSP, without a script being refused', async () => {
    const q = bullQueue();
    const [outbound] = q.names as [string];
    await q.queue.enqueue(outbound, 'send', { outboxId: 1 }, { jobId: 'ob-1' });
    const web = await webWith(q);
    await web.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = web.app.server.address();
    const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    const browser: Browser = await launchBrowser(binary('chromium') as string);
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    const refused: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) refused.push(m.text());
    });
    await page.goto(`${base}/login?next=${encodeURIComponent('/admin/queues/bull/')}`);
    await page.fill('input[name="username"]', 'boss');
    await page.fill('input[name="password"]', PASSWORD);
    await Promise.all([page.waitForURL(/\/admin\/queues\/bull\/$/), page.click('button[type="submit"]')]);
    await page.getByText(outbound).first().waitFor({ timeout: 15_000 });
    // A deep link loads too: the <base> element (base-uri 'self') keeps relative URLs right.
    await page.goto(`${base}/admin/queues/bull/queue/${encodeURIComponent(outbound)}`);
    await page.getByText(outbound).first().waitFor({ timeout: 15_000 });
    // Only the third-party font stylesheet may be refused; no script, style or API call.
    expect(refused.filter((r) => !r.includes('fonts.googleapis.com'))).toEqual([]);
  });
});
