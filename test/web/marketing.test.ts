import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { saveSegment } from '../../src/customers/index.ts';
import {
  type CampaignRunner,
  createCampaign,
  createCampaignRunner,
  createList,
  getCampaign,
  type ListsDeps,
  pauseCampaign,
  subscribe,
} from '../../src/lists/index.ts';
import { listsPublicRoutes } from '../../src/web/lists/index.ts';
import { marketingPages, newsletterTemplates } from '../../src/web/marketing/index.ts';
import { setupLists } from '../lists/helpers.ts';
import { testQueue } from '../lists/test-queue.ts';
import { addUser, type LoggedIn, login, makeWeb, postForm, type TestWeb } from './helpers.ts';

interface World {
  web: TestWeb;
  app: FastifyInstance;
  deps: ListsDeps;
  runner: CampaignRunner;
  queue: ReturnType<typeof testQueue>;
  outbox: Array<{ to: string; subject: string }>;
}

let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** The web server with the marketing pages mounted the way src/app.ts mounts staff plugins. */
async function world(): Promise<World> {
  const holder: { deps?: ListsDeps; runner?: CampaignRunner } = {};
  const web = await makeWeb({
    staffPlugins: [
      {
        prefix: '/lists-admin',
        roles: ['marketer', 'admin'],
        plugin: async (scope, o) => {
          if (!holder.deps) throw new Error('lists deps not set up');
          await marketingPages({
            lists: holder.deps,
            ...(holder.runner ? { runner: holder.runner } : {}),
            templates: () => ['newsletter', 'spring-sale'],
          })(scope, o);
        },
      },
    ],
  });
  const lists = setupLists({ db: web.db, clock: web.clock });
  lists.db.close(); // setupLists' own in-memory database is not used: the web's is.
  const queue = testQueue();
  const runner = createCampaignRunner({ deps: lists.deps, queue });
  runner.work();
  holder.deps = lists.deps;
  holder.runner = runner;
  cleanups.push(
    () => web.db.close(),
    () => queue.close(),
    () => web.app.close(),
  );
  return { web, app: web.app, deps: lists.deps, runner, queue, outbox: lists.outbox };
}

async function marketer(w: World, name = 'mia'): Promise<LoggedIn> {
  await addUser(w.web.db, name, 'marketer');
  return login(w.app, name);
}

const get = (w: World, who: LoggedIn, url: string) =>
  w.app.inject({ method: 'GET', url, headers: { cookie: who.cookie } });

/** The lists-page table row of one list, as text between its <tr> and </tr>. */
function row(html: string, id: string): string {
  const m = new RegExp(`<tr id="${id}"[^>]*>([\\s\\S]*?)</tr>`).exec(html);
  if (!m?.[1]) throw new Error(`no row ${id} on the page`);
  return m[1];
}

function cell(rowHtml: string, cls: string): string {
  const m = new RegExp(`class="${cls}">([^<]*)<`).exec(rowHtml);
  if (!m) throw new Error(`no ${cls} cell`);
  return (m[1] as string).trim();
}

async function multipart(fields: Record<string, string | { file: string; name: string }>) {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v === 'string') fd.append(k, v);
    else fd.append(k, new Blob([v.file], { type: 'text/csv' }), v.name);
  }
  const req = new Request('http://localhost/', { method: 'POST', body: fd });
  return {
    payload: Buffer.from(await req.arrayBuffer()),
    contentType: req.headers.get('content-type') ?? '',
  };
}

function newsList(w: World, extra: { optin?: 'single' | 'double'; name?: string } = {}) {
  return createList(
    w.web.db,
    {
      slug: 'news',
      name: extra.name ?? 'News',
      consentWording: 'Send me news',
      optin: extra.optin ?? 'single',
    },
    w.web.clock.now(),
  );
}

describe('marketing pages: lists', () => {
  it('a marketer creates a list through the form and sees it with its settings and sign-up link', async () => {
    const w = await world();
    const who = await marketer(w);
    const empty = await get(w, who, '/lists-admin');
    expect(empty.statusCode).toBe(200);
    expect(empty.body).toContain('id="no-lists"');
    // The header links to the pages for marketers, and their home page is their lists.
    expect(empty.body).toContain('href="/lists-admin" id="nav-lists"');
    expect(empty.body).toContain('<a class="brand" href="/lists-admin">');

    const res = await postForm(w.app, who, '/lists-admin/lists', {
      slug: 'tea-club',
      name: 'Tea club',
      consentWording: 'Yes, send me the tea club letter.',
      optin: 'double',
      public: '1',
    });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/lists-admin?ok=list_created');

    const page = await get(w, who, '/lists-admin?ok=list_created');
    expect(page.body).toContain('id="flash"');
    const r = row(page.body, 'list-tea-club');
    expect(r).toContain('Tea club');
    expect(r).toContain('href="https://shop.example.com/lists/tea-club"');
    expect(r).toContain('double');
    expect(r).toContain('href="/lists-admin/lists/tea-club/export.csv"');
    const stored = w.web.db
      .prepare('SELECT optin, public, consent_wording FROM lists WHERE slug = ?')
      .get('tea-club');
    expect(stored).toEqual({
      optin: 'double',
      public: 1,
      consent_wording: 'Yes, send me the tea club letter.',
    });

    // A bad slug comes back as a form error with what was typed kept.
    const bad = await postForm(w.app, who, '/lists-admin/lists', {
      slug: 'Bad Slug',
      name: 'Kept name',
      consentWording: 'x',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('class="error"');
    expect(bad.body).toContain('value="Kept name"');
  });

  it('imports CSV with an explicit consent source and shows the counts per status', async () => {
    const w = await world();
    const who = await marketer(w);
    newsList(w, { optin: 'double' });

    // "Confirmed elsewhere" without the wording they agreed to is refused.
    const noWording = await postForm(w.app, who, '/lists-admin/import', {
      list: 'news',
      consent: 'confirmed-elsewhere',
      csvText: 'email\nann@example.com\n',
    });
    expect(noWording.statusCode).toBe(400);
    expect(noWording.body).toMatch(/consent wording/);

    const confirmed = await postForm(w.app, who, '/lists-admin/import', {
      list: 'news',
      consent: 'confirmed-elsewhere',
      wording: 'Signed up at the spring fair',
      csvText: 'email,name\nann@example.com,Ann\nbob@example.com,Bob\nnot-an-address\n',
    });
    expect(confirmed.statusCode).toBe(200);
    expect(confirmed.body).toContain('id="import-result"');
    expect(confirmed.body).toContain('2 confirmed, 0 pending');
    expect(w.outbox).toHaveLength(0);

    // A file upload (multipart) as "pending": each new address gets an opt-in mail.
    const body = await multipart({
      _csrf: who.csrf,
      list: 'news',
      consent: 'pending',
      csvFile: { file: 'email\ncid@example.com\ndee@example.com\nann@example.com\n', name: 'people.csv' },
    });
    const upload = await w.app.inject({
      method: 'POST',
      url: '/lists-admin/import',
      headers: { cookie: who.cookie, 'content-type': body.contentType },
      payload: body.payload,
    });
    expect(upload.statusCode).toBe(200);
    expect(upload.body).toContain('0 confirmed, 2 pending');
    expect(w.outbox.map((m) => m.to).sort()).toEqual(['cid@example.com', 'dee@example.com']);

    const page = await get(w, who, '/lists-admin');
    const r = row(page.body, 'list-news');
    expect(cell(r, 'n-pending')).toBe('2');
    expect(cell(r, 'n-confirmed')).toBe('2');
    expect(cell(r, 'n-unsubscribed')).toBe('0');

    const person = w.web.db
      .prepare(
        `SELECT c.source, c.wording FROM list_consents c JOIN subscribers s ON s.id = c.subscriber_id
         WHERE s.email = 'ann@example.com'`,
      )
      .all();
    expect(person).toEqual([{ source: 'staff', wording: 'Signed up at the spring fair' }]);

    const csv = await get(w, who, '/lists-admin/lists/news/export.csv');
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(csv.body).toContain('ann@example.com,Ann,,confirmed');
  });

  it('shows a list name containing <script> escaped on every page', async () => {
    const w = await world();
    const who = await marketer(w);
    const evil = '<script>alert(1)</script>';
    const res = await postForm(w.app, who, '/lists-admin/lists', {
      slug: 'evil',
      name: evil,
      consentWording: '<img src=x onerror=alert(2)>',
    });
    expect(res.statusCode).toBe(303);
    const list = w.web.db.prepare('SELECT id FROM lists WHERE slug = ?').get('evil') as { id: number };
    createCampaign(
      w.web.db,
      { name: evil, listIds: [list.id], template: 'newsletter', subject: evil },
      w.web.clock.now(),
    );
    for (const url of ['/lists-admin', '/lists-admin/campaigns']) {
      const page = await get(w, who, url);
      expect(page.statusCode).toBe(200);
      expect(page.body).not.toContain('<script>alert(1)');
      expect(page.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    }
  });
});

describe('marketing pages: campaigns', () => {
  it('composes a campaign, test-sends it, starts, pauses and resumes it, and shows progress', async () => {
    const w = await world();
    const who = await marketer(w);
    const news = newsList(w);
    for (const email of ['a@example.com', 'b@example.com'])
      await subscribe(w.deps, { slug: 'news', email, name: null, source: 'staff' });
    w.outbox.length = 0;

    // A saved segment is offered with its size now, before anyone sends to it.
    for (const [email, vip] of [
      ['vip1@example.com', 1],
      ['vip2@example.com', 1],
      ['plain@example.com', 0],
    ] as const)
      w.web.db
        .prepare(
          'INSERT INTO customers (email, base_email, vip, first_contact_at, last_contact_at, created_at) VALUES (?, ?, ?, 0, 0, 0)',
        )
        .run(email, email, vip);
    saveSegment(w.web.db, 'vips', 'VIP customers', { vip: true }, 0);

    const composer = await get(w, who, '/lists-admin/campaigns');
    expect(composer.statusCode).toBe(200);
    expect(composer.body).toContain('<option value="vips">VIP customers (2)</option>');
    // Thresholds prefilled with the configured defaults (5% bounces, 0.1% complaints); tracking off.
    expect(composer.body).toContain('name="bounceThreshold" inputmode="decimal" required value="5"');
    expect(composer.body).toContain('name="complaintThreshold" inputmode="decimal" required value="0.1"');
    expect(composer.body).toContain('<input type="checkbox" name="tracking" value="1"> ');
    expect(composer.body).toContain('<option value="newsletter">newsletter</option>');

    // A template that is not offered is refused.
    const wrongTemplate = await postForm(w.app, who, '/lists-admin/campaigns', {
      name: 'Spring',
      subject: 'Spring harvest',
      listIds: String(news.id),
      template: 'order-confirmation',
      bounceThreshold: '5',
      complaintThreshold: '0.1',
    });
    expect(wrongTemplate.statusCode).toBe(400);

    const created = await postForm(w.app, who, '/lists-admin/campaigns', {
      name: 'Spring',
      subject: 'Spring harvest',
      listIds: String(news.id),
      template: 'newsletter',
      bounceThreshold: '4',
      complaintThreshold: '0.2',
    });
    expect(created.statusCode).toBe(303);
    const c = w.web.db.prepare('SELECT * FROM campaigns').get() as {
      id: number;
      bounce_threshold: number;
      complaint_threshold: number;
      tracking: number;
      status: string;
    };
    expect(c).toMatchObject({
      bounce_threshold: 0.04,
      complaint_threshold: 0.002,
      tracking: 0,
      status: 'draft',
    });

    const test = await postForm(w.app, who, `/lists-admin/campaigns/${c.id}/test`, {
      to: 'boss@shop.example.com, editor@shop.example.com',
    });
    expect(test.statusCode).toBe(303);
    expect(test.headers.location).toContain('ok=test&n=2');
    expect(w.outbox.map((m) => m.subject)).toEqual([
      expect.stringContaining('[TEST]'),
      expect.stringContaining('[TEST]'),
    ]);

    const start = await postForm(w.app, who, `/lists-admin/campaigns/${c.id}/start`, {});
    expect(start.statusCode).toBe(303);
    expect(getCampaign(w.web.db, c.id).status).toBe('running');
    await w.runner.tick();
    await w.queue.drain();

    const running = await get(w, who, '/lists-admin/campaigns');
    const r = row(running.body, `c${c.id}`);
    expect(r).toContain('campaign-status running');
    expect(cell(r, 'p-total')).toBe('2');
    expect(cell(r, 'p-sent')).toBe('2');

    // A second campaign goes through pause and resume (the first one finishes on the next tick).
    const second = createCampaign(
      w.web.db,
      { name: 'Autumn', listIds: [news.id], template: 'newsletter', subject: 'Autumn' },
      w.web.clock.now(),
    );
    await postForm(w.app, who, `/lists-admin/campaigns/${second.id}/start`, {});
    const pause = await postForm(w.app, who, `/lists-admin/campaigns/${second.id}/pause`, {});
    expect(pause.statusCode).toBe(303);
    expect(getCampaign(w.web.db, second.id).status).toBe('paused');
    const pausedPage = await get(w, who, `/lists-admin/campaigns?ok=pause`);
    expect(row(pausedPage.body, `c${second.id}`)).toContain(`/lists-admin/campaigns/${second.id}/resume`);
    expect(pausedPage.body).toContain('Campaign paused.');

    const resume = await postForm(w.app, who, `/lists-admin/campaigns/${second.id}/resume`, {});
    expect(resume.statusCode).toBe(303);
    expect(getCampaign(w.web.db, second.id).status).toBe('running');

    // Resuming a running campaign is an error shown on the page, not a crash.
    const again = await postForm(w.app, who, `/lists-admin/campaigns/${second.id}/resume`, {});
    expect(again.statusCode).toBe(400);
    expect(again.body).toContain('id="error"');

    // Schedule takes a UTC date-time.
    const third = createCampaign(
      w.web.db,
      { name: 'Later', listIds: [news.id], template: 'newsletter', subject: 'Later' },
      w.web.clock.now(),
    );
    const sched = await postForm(w.app, who, `/lists-admin/campaigns/${third.id}/schedule`, {
      at: '2026-03-01T09:30',
    });
    expect(sched.statusCode).toBe(303);
    expect(getCampaign(w.web.db, third.id)).toMatchObject({
      status: 'scheduled',
      scheduled_at: Date.UTC(2026, 2, 1, 9, 30),
    });
  });

  it('shows auto-pause notices prominently at the top', async () => {
    const w = await world();
    const who = await marketer(w);
    const news = newsList(w);
    const c = createCampaign(
      w.web.db,
      { name: 'Risky', listIds: [news.id], template: 'newsletter', subject: 'Hi' },
      w.web.clock.now(),
    );
    w.web.db.prepare("UPDATE campaigns SET status = 'running' WHERE id = ?").run(c.id);
    pauseCampaign(w.web.db, c.id, w.web.clock.now(), 'auto-paused: hard-bounce rate 9.00% is above 5.00%');
    w.web.db
      .prepare('INSERT INTO campaign_notices (campaign_id, kind, message, at) VALUES (?, ?, ?, ?)')
      .run(c.id, 'auto_paused', 'Campaign "Risky" was paused: hard-bounce rate 9.00%.', w.web.clock.now());
    const page = await get(w, who, '/lists-admin/campaigns');
    const alert = /<div class="error mk-alert" role="alert" id="auto-paused">([\s\S]*?)<\/div>/.exec(
      page.body,
    );
    expect(alert?.[1]).toContain('Campaign &quot;Risky&quot; was paused');
    expect(row(page.body, `c${c.id}`)).toContain('auto-paused: hard-bounce rate 9.00%');
  });
});

describe('marketing pages: access', () => {
  it('gives agents 403 on every page and action, and hides the links from them', async () => {
    const w = await world();
    newsList(w);
    await addUser(w.web.db, 'alex', 'agent', ['sales']);
    const agent = await login(w.app, 'alex');
    for (const url of [
      '/lists-admin',
      '/lists-admin/campaigns',
      '/lists-admin/subscribers',
      '/lists-admin/lists/news/export.csv',
    ]) {
      const res = await get(w, agent, url);
      expect(res.statusCode, url).toBe(403);
    }
    const post = await postForm(w.app, agent, '/lists-admin/lists', {
      slug: 'sneaky',
      name: 'x',
      consentWording: 'x',
    });
    expect(post.statusCode).toBe(403);
    expect(w.web.db.prepare("SELECT 1 FROM lists WHERE slug = 'sneaky'").get()).toBeUndefined();
    const inbox = await get(w, agent, '/inbox');
    expect(inbox.body).not.toContain('nav-lists');
    // Not logged in: GET goes to the login page.
    const anon = await w.app.inject({ method: 'GET', url: '/lists-admin/campaigns' });
    expect(anon.statusCode).toBe(302);
  });

  it('refuses a POST without the CSRF token and changes nothing', async () => {
    const w = await world();
    const who = await marketer(w);
    const news = newsList(w);
    const c = createCampaign(
      w.web.db,
      { name: 'x', listIds: [news.id], template: 'newsletter', subject: 'x' },
      w.web.clock.now(),
    );
    const noToken = await w.app.inject({
      method: 'POST',
      url: '/lists-admin/lists',
      headers: { cookie: who.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ slug: 'forged', name: 'x', consentWording: 'x' }).toString(),
    });
    expect(noToken.statusCode).toBe(403);
    const wrongToken = await postForm(
      w.app,
      { ...who, csrf: 'not-the-token' },
      `/lists-admin/campaigns/${c.id}/start`,
      {},
    );
    expect(wrongToken.statusCode).toBe(403);
    // The multipart parser must not open a way around the check either.
    const body = await multipart({ list: 'news', consent: 'pending', csvText: 'email\nz@example.com\n' });
    const upload = await w.app.inject({
      method: 'POST',
      url: '/lists-admin/import',
      headers: { cookie: who.cookie, 'content-type': body.contentType },
      payload: body.payload,
    });
    expect(upload.statusCode).toBe(403);
    expect(w.web.db.prepare("SELECT 1 FROM lists WHERE slug = 'forged'").get()).toBeUndefined();
    expect(getCampaign(w.web.db, c.id).status).toBe('draft');
    expect(w.web.db.prepare('SELECT count(*) AS n FROM subscribers').get()).toEqual({ n: 0 });
  });
});

describe('marketing pages: one address', () => {
  it('looks an address up and erases it only after the confirm step', async () => {
    const w = await world();
    const who = await marketer(w);
    newsList(w);
    await subscribe(w.deps, { slug: 'news', email: 'ann@example.com', name: 'Ann', source: 'staff' });

    const found = await get(w, who, '/lists-admin/subscribers?email=ann%40example.com');
    expect(found.statusCode).toBe(200);
    expect(found.body).toMatch(/<table id="memberships">[\s\S]*News[\s\S]*confirmed/);
    expect(found.body).toMatch(/<table id="consents">[\s\S]*staff/);
    expect(found.body).toContain('action="/lists-admin/subscribers/erase"');

    const ask = await postForm(w.app, who, '/lists-admin/subscribers/erase', { email: 'ann@example.com' });
    expect(ask.statusCode).toBe(200);
    expect(ask.body).toContain('id="erase-confirm"');
    expect(w.web.db.prepare('SELECT count(*) AS n FROM subscribers').get()).toEqual({ n: 1 });

    const erase = await postForm(w.app, who, '/lists-admin/subscribers/erase', {
      email: 'ann@example.com',
      confirm: 'yes',
    });
    expect(erase.statusCode).toBe(303);
    expect(w.web.db.prepare('SELECT count(*) AS n FROM subscribers').get()).toEqual({ n: 0 });
    const after = await get(w, who, erase.headers.location as string);
    expect(after.body).toContain('id="erased-marker"');
    expect(after.body).toContain('Address erased.');
  });
});

describe('marketing pages: what one address shows whom', () => {
  it('shows a marketer the lists data only; the support mail in the full export is for admins', async () => {
    const w = await world();
    newsList(w);
    await subscribe(w.deps, { slug: 'news', email: 'ann@example.com', name: 'Ann', source: 'staff' });
    // The running app wires the whole installation's export (customer, orders, support mail).
    w.deps.dataRights = {
      exportAddress: (email) => ({
        email,
        erased: false,
        subscriber: null,
        memberships: [],
        consents: [],
        campaignSends: [],
        bounces: [],
        conversations: [{ subject: 'Refund dispute: card charged twice' }],
      }),
      eraseAddress: () => undefined,
    };
    const url = '/lists-admin/subscribers?email=ann%40example.com';
    const asMarketer = await get(w, await marketer(w), url);
    expect(asMarketer.statusCode).toBe(200);
    expect(asMarketer.body).toMatch(/<table id="memberships">[\s\S]*News/);
    expect(asMarketer.body).not.toContain('Refund dispute');
    await addUser(w.web.db, 'root', 'admin');
    const asAdmin = await get(w, await login(w.app, 'root'), url);
    expect(asAdmin.body).toContain('Refund dispute');
  });
});

describe('public list pages under the web server', () => {
  it('are styled from /static, which their policy allows: the anti-bot field stays out of sight', async () => {
    const w = await world();
    newsList(w);
    await w.app.register(async (pub) => listsPublicRoutes(pub, { lists: w.deps }));
    const form = await w.app.inject({ method: 'GET', url: '/lists/news' });
    expect(form.statusCode).toBe(200);
    expect(form.headers['content-security-policy']).toContain("style-src 'self'");
    expect(form.body).not.toContain('<style');
    expect(form.body).toContain('<link rel="stylesheet" href="/static/lists.css">');
    expect(form.body).toContain('class="hp"');
    const css = await w.app.inject({ method: 'GET', url: '/static/lists.css' });
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-type']).toContain('text/css');
    expect(css.body).toMatch(/\.hp\s*\{[^}]*position:\s*absolute;[^}]*left:\s*-10000px/);
  });
});

describe('newsletterTemplates', () => {
  it('offers the shipped templates that use the newsletter layout, and not transactional ones', () => {
    const names = newsletterTemplates(new URL('../../templates', import.meta.url).pathname);
    expect(names).toContain('newsletter');
    expect(names).not.toContain('order-confirmation');
  });
});
