import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import {
  type CampaignRunner,
  createCampaign,
  createCampaignRunner,
  createList,
  type ListsDeps,
  subscribe,
} from '../../src/lists/index.ts';
import { createTemplateRenderer } from '../../src/outbound/index.ts';
import { marketingPages } from '../../src/web/marketing/index.ts';
import { PREVIEW_FRAME_CSP } from '../../src/web/marketing/preview.ts';
import { binary, launchBrowser, tempDir } from '../harness/index.ts';
import { setupLists } from '../lists/helpers.ts';
import { testQueue } from '../lists/test-queue.ts';
import { addUser, type LoggedIn, login, makeWeb, PASSWORD, type TestWeb } from './helpers.ts';

interface World {
  web: TestWeb;
  app: FastifyInstance;
  deps: ListsDeps;
  runner: CampaignRunner;
  queue: ReturnType<typeof testQueue>;
}

let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/**
 * The shipped templates plus one hostile template (script, handlers, a form, remote http image)
 * and one with no sample.json, rendered by the real outbound renderer.
 */
function templatesDir(): string {
  const dir = path.join(tempDir('mailroom-tpl-'), 'templates');
  cpSync(path.join(PROJECT_ROOT, 'templates'), dir, { recursive: true });
  const hostile = path.join(dir, 'en', 'hostile');
  mkdirSync(hostile);
  writeFileSync(path.join(hostile, 'subject.hbs'), 'Hello {{name}}');
  writeFileSync(
    path.join(hostile, 'html.hbs'),
    '{{!< none}}\n<p onclick="window.__x=1" style="color:#c00">Hi {{name}}</p><script>window.__x=2</script>' +
      '<img src="http://tracker.invalid/p.gif"><img src="https://cdn.example.com/logo.png" alt="logo">' +
      '<a href="javascript:window.__x=3">js</a><a href="https://shop.example.com/tea">tea</a>' +
      '<form action="https://evil.example/"><input name="a"></form><iframe src="https://evil.example/"></iframe>\n',
  );
  writeFileSync(path.join(hostile, 'sample.json'), JSON.stringify({ name: '<b>Sam</b>' }));
  const bare = path.join(dir, 'en', 'bare');
  mkdirSync(bare);
  writeFileSync(path.join(bare, 'subject.hbs'), '{{campaign.subject}}');
  writeFileSync(
    path.join(bare, 'html.hbs'),
    '{{!< newsletter}}\n<p>Hello {{#if name}}{{name}}{{else}}reader{{/if}} at {{email}}</p>\n',
  );
  return dir;
}

async function world(): Promise<World> {
  const renderer = createTemplateRenderer({
    dir: templatesDir(),
    publicUrl: 'https://shop.example.com',
    globals: { shop: { name: 'Lotus Tea House' } },
  });
  const holder: { deps?: ListsDeps } = {};
  const web = await makeWeb({
    staffPlugins: [
      {
        prefix: '/lists-admin',
        roles: ['marketer', 'admin'],
        plugin: async (scope, o) => {
          if (!holder.deps) throw new Error('lists deps not set up');
          await marketingPages({
            lists: holder.deps,
            templates: () => ['newsletter', 'hostile', 'bare'],
            sample: (t, l) => renderer.sample(t, l),
          })(scope, o);
        },
      },
    ],
  });
  const lists = setupLists({
    db: web.db,
    clock: web.clock,
    render: async (t, l, d) => renderer.renderTemplate(t, l, d),
  });
  lists.db.close(); // the web's database is the one used
  const queue = testQueue();
  const runner = createCampaignRunner({ deps: lists.deps, queue });
  runner.work();
  holder.deps = lists.deps;
  cleanups.push(
    () => web.db.close(),
    () => queue.close(),
    () => web.app.close(),
  );
  return { web, app: web.app, deps: lists.deps, runner, queue };
}

async function marketer(w: World, name = 'mia'): Promise<LoggedIn> {
  await addUser(w.web.db, name, 'marketer');
  return login(w.app, name);
}

/** An attribute value as the browser reads it (Handlebars escapes & and = in URLs). */
const attr = (s: string) => s.replace(/&#x3D;/g, '=').replace(/&amp;/g, '&');

const get = (w: World, who: LoggedIn | null, url: string) =>
  w.app.inject({ method: 'GET', url, headers: who ? { cookie: who.cookie } : {} });

function newsList(w: World) {
  return createList(
    w.web.db,
    { slug: 'news', name: 'Tea notes', consentWording: 'Send me news', optin: 'single' },
    w.web.clock.now(),
  );
}

/** A running campaign to four subscribers of the news list, sent, with one unsubscribe after it. */
async function sentCampaign(w: World) {
  const news = newsList(w);
  for (const email of ['a@example.com', 'b@example.com', 'c@example.com', 'd@example.com'])
    await subscribe(w.deps, { slug: 'news', email, name: null, source: 'staff' });
  const c = createCampaign(
    w.web.db,
    { name: 'Spring', listIds: [news.id], template: 'newsletter', subject: 'Spring harvest' },
    w.web.clock.now(),
  );
  w.web.db.prepare("UPDATE campaigns SET status = 'running', started_at = ? WHERE id = ?").run(0, c.id);
  await w.runner.tick();
  await w.queue.drain();
  return { news, campaign: c };
}

/** What the unsubscribe link does, after the mail: the membership and the consent record. */
function unsubscribeLater(w: World, email: string, listId: number) {
  w.web.clock.advance(60_000);
  const sub = w.web.db.prepare('SELECT id FROM subscribers WHERE email = ?').get(email) as { id: number };
  w.web.db
    .prepare(
      `UPDATE list_memberships SET status = 'unsubscribed', unsubscribed_at = ? WHERE subscriber_id = ? AND list_id = ?`,
    )
    .run(w.web.clock.now(), sub.id, listId);
  w.web.db
    .prepare(
      `INSERT INTO list_consents (subscriber_id, list_id, action, source, at) VALUES (?, ?, 'unsubscribe', 'link', ?)`,
    )
    .run(sub.id, listId, w.web.clock.now());
}

describe('campaign progress, live', () => {
  it('answers the page poll with sent, failed, bounced and unsubscribed per campaign', async () => {
    const w = await world();
    const who = await marketer(w);
    const { news, campaign } = await sentCampaign(w);
    w.web.db
      .prepare(
        "UPDATE campaign_sends SET status = 'bounced' WHERE campaign_id = ? AND email = 'c@example.com'",
      )
      .run(campaign.id);
    w.web.db
      .prepare(
        "UPDATE campaign_sends SET status = 'failed' WHERE campaign_id = ? AND email = 'd@example.com'",
      )
      .run(campaign.id);
    unsubscribeLater(w, 'a@example.com', news.id);
    const other = createCampaign(
      w.web.db,
      { name: 'Draft', listIds: [news.id], template: 'newsletter', subject: 'Later' },
      w.web.clock.now(),
    );

    const res = await get(w, who, `/lists-admin/campaigns/progress.json?ids=${campaign.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json() as { at: number; campaigns: Array<Record<string, unknown>> };
    expect(body.at).toBe(w.web.clock.now());
    expect(body.campaigns).toEqual([
      expect.objectContaining({
        id: campaign.id,
        status: 'running',
        statusText: 'running',
        live: true,
        total: 4,
        sent: 2,
        failed: 1,
        bounced: 1,
        unsubscribed: 1,
        bounceRate: '33.33%',
      }),
    ]);
    // Without ids: every campaign; a draft is not live.
    const all = (await get(w, who, '/lists-admin/campaigns/progress.json')).json() as {
      campaigns: Array<{ id: number; live: boolean; status: string }>;
    };
    expect(all.campaigns.map((c) => [c.id, c.status, c.live])).toEqual([
      [other.id, 'draft', false],
      [campaign.id, 'running', true],
    ]);

    // The page shows the same numbers where the script writes them, and loads the script.
    const page = await get(w, who, '/lists-admin/campaigns');
    expect(page.body).toContain('data-progress-url="/lists-admin/campaigns/progress.json"');
    expect(page.body).toContain(`data-campaign="${campaign.id}" data-live="1"`);
    expect(page.body).toContain('<dd data-p="unsubscribed" class="p-unsubscribed">1</dd>');
    expect(page.body).toContain('<dd data-p="failed" class="p-failed">1</dd>');
    expect(page.body).toContain('<span data-p="bounced">1</span> (<span data-p="bounceRate">33.33%</span>)');
    expect(page.body).toContain('<script src="/static/campaigns.js" defer></script>');
    expect(page.body).not.toMatch(/<script(?![^>]*src=)/);
    const js = await w.app.inject({ url: '/static/campaigns.js' });
    expect(js.statusCode).toBe(200);
  });

  it('keeps the poll to marketers and admins', async () => {
    const w = await world();
    await addUser(w.web.db, 'alex', 'agent', ['sales']);
    const agent = await login(w.app, 'alex');
    expect((await get(w, agent, '/lists-admin/campaigns/progress.json')).statusCode).toBe(403);
    const anon = await get(w, null, '/lists-admin/campaigns/progress.json');
    expect(anon.statusCode).toBe(302);
    expect(anon.headers.location).toMatch(/^\/login\?next=/);
    await addUser(w.web.db, 'boss', 'admin');
    const admin = await login(w.app, 'boss');
    expect((await get(w, admin, '/lists-admin/campaigns/progress.json')).statusCode).toBe(200);
  });
});

describe('campaign composer: template preview', () => {
  it("frames the first offered template with its sample.json in the composer, under the frame's own CSP", async () => {
    const w = await world();
    const who = await marketer(w);
    const composer = await get(w, who, '/lists-admin/campaigns');
    const src =
      /<iframe class="mk-preview-frame" id="preview-frame" src="([^"]+)" sandbox="allow-popups allow-popups-to-escape-sandbox"/.exec(
        composer.body,
      )?.[1];
    expect(attr(src ?? '')).toBe('/lists-admin/campaigns/preview/frame?template=newsletter&source=sample');
    const link = /href="([^"]+)" id="preview-link"/.exec(composer.body)?.[1];
    expect(attr(link ?? '')).toBe('/lists-admin/campaigns/preview?template=newsletter&source=sample');

    const frame = await get(w, who, attr(src ?? ''));
    expect(frame.statusCode).toBe(200);
    expect(frame.headers['content-security-policy']).toBe(PREVIEW_FRAME_CSP);
    expect(frame.headers['x-frame-options']).toBe('SAMEORIGIN');
    // sample.json's reader and list, in the newsletter layout with its inline styles.
    expect(frame.body).toContain('Dear Alice Chen,');
    expect(frame.body).toContain('Lotus Tea House · Tea notes');
    expect(frame.body).toMatch(/<td style="[^"]*padding:24px 28px/);
    expect(frame.body).toContain('target="_blank"');
  });

  it("renders the first subscriber's data for the chosen list, escaped, and says whose it is", async () => {
    const w = await world();
    const who = await marketer(w);
    const news = newsList(w);
    await subscribe(w.deps, {
      slug: 'news',
      email: 'zoe@example.com',
      name: '<i>Zoe</i>',
      source: 'staff',
    });
    await subscribe(w.deps, { slug: 'news', email: 'yan@example.com', name: 'Yan', source: 'staff' });
    const q = `template=newsletter&list=${news.id}&source=subscriber&subject=Spring%20sale`;
    const page = await get(w, who, `/lists-admin/campaigns/preview?${q}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<dd id="preview-subject">Spring sale</dd>');
    expect(page.body).toContain('the first subscriber: zoe@example.com');
    expect(page.body).toContain(`<option value="${news.id}" selected>Tea notes</option>`);
    const frameUrl = /<iframe class="mk-preview-frame" id="preview-frame" src="([^"]+)"/.exec(page.body)?.[1];
    const frame = await get(w, who, attr(frameUrl ?? ''));
    expect(frame.body).toContain('Dear &lt;i&gt;Zoe&lt;/i&gt;,');
    expect(frame.body).toContain('readers of Tea notes');
    // The unsubscribe link of a preview leads nowhere: following it unsubscribes nobody.
    expect(frame.body).toContain('href="https://shop.example.com/u/preview"');

    // A list nobody confirmed yet falls back to the sample, and says so.
    const empty = createList(
      w.web.db,
      { slug: 'empty', name: 'Empty', consentWording: 'x', optin: 'single' },
      w.web.clock.now(),
    );
    const fallback = await get(
      w,
      who,
      `/lists-admin/campaigns/preview?template=newsletter&list=${empty.id}&source=subscriber`,
    );
    expect(fallback.body).toContain('id="preview-no-subscriber"');
    expect(fallback.body).toContain('the template&#x27;s sample.json');
  });

  it('strips script, handlers, forms, frames and http images from the preview, and flags a missing unsubscribe link', async () => {
    const w = await world();
    const who = await marketer(w);
    const page = await get(w, who, '/lists-admin/campaigns/preview?template=hostile');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<dd id="preview-subject">Hello &lt;b&gt;Sam&lt;/b&gt;</dd>');
    expect(page.body).toContain('id="preview-unsubscribe-added"');
    const frame = await get(w, who, '/lists-admin/campaigns/preview/frame?template=hostile&source=sample');
    const body = frame.body;
    expect(body).toContain('Hi &lt;b&gt;Sam&lt;/b&gt;');
    expect(body).toContain('style="color:#c00"');
    expect(body).toContain('src="https://cdn.example.com/logo.png"');
    expect(body).toContain('href="https://shop.example.com/tea"');
    for (const bad of ['<script', 'onclick', 'javascript:', '<form', '<input', '<iframe', 'http://tracker'])
      expect(body, bad).not.toContain(bad);

    // A template without sample.json renders with placeholders.
    const bare = await get(w, who, '/lists-admin/campaigns/preview?template=bare&subject=Hi');
    expect(bare.statusCode).toBe(200);
    expect(bare.body).toContain('placeholders (the template has no sample.json)');
    const bareFrame = await get(w, who, '/lists-admin/campaigns/preview/frame?template=bare&subject=Hi');
    expect(bareFrame.body).toContain('Hello reader at reader@example.com');
  });

  it('previews only the templates the composer offers, and only for marketers and admins', async () => {
    const w = await world();
    const who = await marketer(w);
    const wrong = await get(w, who, '/lists-admin/campaigns/preview?template=order-confirmation');
    expect(wrong.statusCode).toBe(400);
    expect(wrong.body).toContain('Pick one of the listed templates.');
    const traversal = await get(w, who, '/lists-admin/campaigns/preview/frame?template=..%2F..%2Fetc');
    expect(traversal.statusCode).toBe(400);
    expect(traversal.headers['content-security-policy']).toBe(PREVIEW_FRAME_CSP);
    expect(traversal.body).toContain('Pick one of the listed templates.');
    await addUser(w.web.db, 'alex', 'agent', ['sales']);
    const agent = await login(w.app, 'alex');
    expect((await get(w, agent, '/lists-admin/campaigns/preview?template=newsletter')).statusCode).toBe(403);
    expect((await get(w, agent, '/lists-admin/campaigns/preview/frame?template=newsletter')).statusCode).toBe(
      403,
    );
  });
});

describe.skipIf(!binary('chromium'))('campaigns page in a real browser', () => {
  it('updates the counts by itself as mail goes out and people leave, and follows the chosen template', async () => {
    const w = await world();
    await marketer(w);
    const news = newsList(w);
    for (const email of ['a@example.com', 'b@example.com', 'c@example.com'])
      await subscribe(w.deps, { slug: 'news', email, name: null, source: 'staff' });
    const c = createCampaign(
      w.web.db,
      { name: 'Spring', listIds: [news.id], template: 'newsletter', subject: 'Spring harvest' },
      w.web.clock.now(),
    );
    await w.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = w.app.server.address();
    const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    const browser: Browser = await launchBrowser(binary('chromium') as string);
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 404/.test(m.text())) errors.push(m.text());
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`${r.status()} ${r.url()}`);
    });
    await page.goto(`${base}/login?next=${encodeURIComponent('/lists-admin/campaigns')}`);
    await page.fill('input[name="username"]', 'mia');
    await page.fill('input[name="password"]', PASSWORD);
    await Promise.all([page.waitForURL(/\/lists-admin\/campaigns$/), page.click('button[type="submit"]')]);
    const sent = page.locator(`#c${c.id} [data-p="sent"]`);
    expect(await sent.textContent()).toBe('0');
    expect(await page.locator('#live-note').isVisible()).toBe(true);

    // The campaign runs and one reader leaves: the open page shows it without a reload.
    w.web.db.prepare("UPDATE campaigns SET status = 'running', started_at = 0 WHERE id = ?").run(c.id);
    await w.runner.tick();
    await w.queue.drain();
    unsubscribeLater(w, 'b@example.com', news.id);
    await expect.poll(() => sent.textContent(), { timeout: 15_000, interval: 200 }).toBe('3');
    expect(await page.locator(`#c${c.id} [data-p="unsubscribed"]`).textContent()).toBe('1');
    // Now running: the row's buttons follow (pause instead of start), still without a reload.
    await expect
      .poll(() => page.locator(`#c${c.id} button.pause`).count(), { timeout: 5000, interval: 100 })
      .toBe(1);
    expect(await page.locator(`#c${c.id} button.start`).count()).toBe(0);
    expect(await page.locator(`#c${c.id} [data-p="statusText"]`).textContent()).toBe('running');
    expect(await page.locator(`#c${c.id} [data-p="unsubscribed"]`).textContent()).toBe('1');

    // Picking another template points the sandboxed preview at it.
    await page.selectOption('select[name="template"]', 'bare');
    await expect
      .poll(() => page.locator('#preview-frame').getAttribute('src'), { timeout: 5000, interval: 100 })
      .toContain('template=bare');
    const frame = page.frameLocator('#preview-frame');
    await frame.getByText('Hello reader at reader@example.com').waitFor({ timeout: 5000 });
    expect(await page.locator('#preview-link').getAttribute('href')).toContain('template=bare');
    expect(errors).toEqual([]);
  });
});
