import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createList } from '../../src/lists/index.ts';
import { FAILURE_WINDOW_MS, MAX_FAILURES } from '../../src/web/auth/login-throttle.ts';
import { SESSION_COOKIE, SESSION_TTL_MS } from '../../src/web/auth/sessions.ts';
import { buildWebServer, type Role as StaffRole } from '../../src/web/index.ts';
import { HOUR, seedConversation } from '../web/helpers.ts';
import {
  addStaff,
  cookieHeader,
  dbFingerprint,
  type FullApp,
  fillRoute,
  hiddenCsrf,
  key,
  type LoggedIn,
  login,
  PASSWORD,
  type RouteInfo,
  routesOf,
  startFullApp,
  UNSAFE_METHODS,
} from './helpers.ts';

/**
 * Routes anyone may call without a staff session, and why. Everything else the instance serves is
 * a staff route and is tested below, so a route added later is covered without touching this file.
 * A HEAD route is public exactly when its GET is.
 */
const PUBLIC: Record<string, string> = {
  'GET /login': 'the sign-in form',
  'POST /login': 'signing in: double-submit CSRF cookie, throttled per address and per address + user name',
  'GET /healthz': 'load-balancer check; answers ok or error only',
  'GET /static/*': 'the stylesheet and the one script file',
  'GET /lists/:slug': 'public subscribe form of a public list',
  'POST /lists/:slug/subscribe': 'public subscribe: rate limited, double opt-in, neutral answer',
  'GET /lists/confirm': 'confirmation link: the signed token is the authority',
  'GET /u/:token': 'unsubscribe preference page: the signed token is the authority',
  'POST /u/:token': 'RFC 8058 one-click unsubscribe: the signed token is the authority',
  'GET /t/o/:token.gif': 'campaign open pixel: same answer for any token, records only a real send token',
  'GET /t/c/:token': 'campaign click redirect: only to a URL whose HMAC (token + URL) was in the mail',
  'POST /api/orders': 'shop order API: API key + HMAC signature (test/security/order-api.test.ts)',
  'POST /api/orders/:id/events': 'shop order API: API key + HMAC signature',
};
/** Who each part of the staff side is for; every staff route must fall in one of them. */
const AREAS: Array<{ area: string; match: RegExp; roles: StaffRole[] }> = [
  // '/' only sends each role to its own first page (the inbox, or a marketer's lists).
  { area: 'home', match: /^\/$/, roles: ['admin', 'agent', 'marketer'] },
  { area: 'desk', match: /^\/(inbox$|c\/|attachments\/)/, roles: ['admin', 'agent'] },
  { area: 'admin pages', match: /^\/admin\//, roles: ['admin'] },
  // Or a scraper with the metrics token (test/web/admin.test.ts).
  { area: 'metrics', match: /^\/metrics$/, roles: ['admin'] },
  { area: 'marketing', match: /^\/(marketing|lists-admin)(\/|$)/, roles: ['admin', 'marketer'] },
  { area: 'signing out', match: /^\/logout$/, roles: ['admin', 'agent', 'marketer'] },
];

const isPublic = (r: RouteInfo) =>
  PUBLIC[key(r)] !== undefined || (r.method === 'HEAD' && PUBLIC[`GET ${r.url}`] !== undefined);

let f: FullApp;
let routes: RouteInfo[];
let staffRoutes: RouteInfo[];
const ids = { sales: 0, salesMsg: 0, hr: 0, hrMsg: 0, hrAttachment: 0, finance: 0 };
const who: Record<string, LoggedIn> = {};

function inject(method: string, url: string, as?: LoggedIn | null, extra: { csrf?: string } = {}) {
  const headers: Record<string, string> = {};
  if (as) headers.cookie = as.cookie;
  if (extra.csrf !== undefined) headers['x-csrf-token'] = extra.csrf;
  const unsafe = UNSAFE_METHODS.has(method);
  if (unsafe) headers['content-type'] = 'application/x-www-form-urlencoded';
  return f.web.inject({
    method: method as 'GET',
    url,
    headers,
    ...(unsafe ? { payload: 'text=hello&body=note&assignee=sam&department=sales&urgency=urgent' } : {}),
  });
}

beforeAll(async () => {
  f = await startFullApp();
  routes = routesOf(f.web);
  staffRoutes = routes.filter((r) => !isPublic(r));
  await Promise.all([
    addStaff(f.db, 'ada', 'admin'),
    addStaff(f.db, 'bob', 'admin'),
    addStaff(f.db, 'sam', 'agent', ['sales']),
    addStaff(f.db, 'mia', 'marketer'),
    addStaff(f.db, 'carol', 'agent', ['finance']),
    addStaff(f.db, 'mallory', 'agent', ['pr']),
    addStaff(f.db, 'dave', 'agent', ['pr']),
  ]);
  for (const u of ['ada', 'bob', 'sam', 'mia']) who[u] = await login(f.web, u);
  const shared = 'same.customer@example.com';
  const s = seedConversation(f.db, {
    department: 'sales',
    subject: 'Quote for forty teapots',
    fromAddr: shared,
  });
  // Overdue SLA clocks put these in the inbox's first band, whose query must filter like the others.
  const h = seedConversation(f.db, {
    department: 'hr',
    subject: 'Confidential zebra grievance',
    fromAddr: shared,
    html: '<p>zebra details</p>',
    dueIn: -HOUR,
  });
  const fi = seedConversation(f.db, {
    department: 'finance',
    subject: 'Invoice 77',
    dueIn: -2 * HOUR,
    slaState: 'breached',
  });
  ids.sales = s.conversationId;
  ids.salesMsg = s.messageId;
  ids.hr = h.conversationId;
  ids.hrMsg = h.messageId;
  ids.finance = fi.conversationId;
  // The attachment's blob exists, so only the department check stands between an agent and it.
  const blob = path.join(f.config.paths.blobDir, 'bb', 'bb', 'b'.repeat(64));
  mkdirSync(path.dirname(blob), { recursive: true });
  writeFileSync(blob, 'zebra payslip');
  ids.hrAttachment = Number(
    f.db
      .prepare(
        'INSERT INTO attachments (message_id, sha256, filename, content_type, size) VALUES (?, ?, ?, ?, ?)',
      )
      .run(h.messageId, 'b'.repeat(64), 'zebra-payslip.pdf', 'application/pdf', 10).lastInsertRowid,
  );
  createList(f.db, { slug: 'news', name: 'News', consentWording: 'Yes please' }, f.clock.now());
});

afterAll(async () => {
  await f?.close();
});

/** Plausible path parameters, so a route that wrongly let a request through would really act. */
const params = () => ({
  id: ids.sales,
  mid: ids.salesMsg,
  slug: 'news',
  email: 'someone@example.com',
  action: 'pause',
  token: 'x',
});

describe('unauthenticated access', () => {
  it('the allow-list names only routes that exist, and every other route is a staff route', () => {
    const served = new Set(routes.map(key));
    for (const k of Object.keys(PUBLIC)) expect(served, `allow-listed ${k} is not served`).toContain(k);
    // The staff side really was enumerated: inbox, conversation actions, admin and marketer pages.
    expect(staffRoutes.map(key)).toEqual(
      expect.arrayContaining([
        'GET /',
        'GET /inbox',
        'GET /c/:id',
        'POST /c/:id/reply',
        'GET /attachments/:id',
        'GET /admin/health',
        'POST /marketing/campaigns/:id/:action',
        'POST /logout',
      ]),
    );
  });

  it('refuses every staff route without a session, with a forged cookie and with an expired session, changing nothing', async () => {
    const expired = await login(f.web, 'carol');
    const before = dbFingerprint(f.db);
    f.clock.advance(SESSION_TTL_MS + 1000);
    try {
      const forged = { cookie: `${SESSION_COOKIE}=${'A'.repeat(43)}`, csrf: '' };
      for (const r of staffRoutes) {
        for (const as of [null, forged, expired]) {
          const res = await inject(r.method, fillRoute(r.url, params()), as, { csrf: '' });
          const what = `${key(r)} ${as ? 'with a dead cookie' : 'without a cookie'}`;
          if (r.method === 'GET') {
            expect(res.statusCode, what).toBe(302);
            expect(res.headers.location, what).toMatch(/^\/login\?next=/);
          } else {
            expect(res.statusCode, what).toBe(401);
          }
          expect(res.body, what).not.toMatch(/Quote for forty|zebra|Invoice 77/);
        }
      }
    } finally {
      f.clock.advance(-(SESSION_TTL_MS + 1000));
    }
    expect(dbFingerprint(f.db)).toBe(before);
  });
});

describe('roles and departments', () => {
  it('an agent guessing conversation ids opens only its own department; others look exactly like ids that do not exist', async () => {
    const max = (f.db.prepare('SELECT max(id) AS n FROM conversations').get() as { n: number }).n;
    const missing = await inject('GET', `/c/${max + 1000}`, who.sam);
    expect(missing.statusCode).toBe(404);
    const opened: number[] = [];
    for (let id = 0; id <= max + 2; id++) {
      const res = await inject('GET', `/c/${id}`, who.sam);
      if (res.statusCode === 200) opened.push(id);
      else {
        expect(res.statusCode, `/c/${id}`).toBe(404);
        expect(res.body, `/c/${id}`).toBe(missing.body);
      }
    }
    expect(opened).toEqual([ids.sales]);
    // The control: an admin opens the others, so the 404s above come from the department check.
    expect((await inject('GET', `/c/${ids.hr}`, who.ada)).statusCode).toBe(200);
    expect((await inject('GET', `/attachments/${ids.hrAttachment}`, who.ada)).body).toBe('zebra payslip');
  });

  it('every conversation route (enumerated) refuses another department’s conversation, message and attachment, changing nothing', async () => {
    const scoped = staffRoutes.filter(
      (r) => r.method !== 'HEAD' && /^\/(c\/:id|attachments\/:id)/.test(r.url),
    );
    expect(scoped.length).toBeGreaterThanOrEqual(10);
    const before = dbFingerprint(f.db);
    const cases = [
      { id: ids.hr, mid: ids.hrMsg, why: 'HR conversation' },
      // Own conversation, but another department's message: the message must belong to the conversation.
      { id: ids.sales, mid: ids.hrMsg, why: 'own conversation with an HR message id' },
    ];
    for (const r of scoped) {
      for (const c of cases) {
        if (c.id === ids.sales && !r.url.includes(':mid')) continue;
        const url = fillRoute(r.url, {
          id: r.url.startsWith('/attachments') ? ids.hrAttachment : c.id,
          mid: c.mid,
        });
        const res = await inject(r.method, url, who.sam, { csrf: who.sam?.csrf ?? '' });
        expect(res.statusCode, `${key(r)} ${c.why}`).toBe(404);
        expect(res.body, `${key(r)} ${c.why}`).not.toContain('zebra');
      }
    }
    // Moving an own conversation into a department the agent cannot see, or merging a foreign one in.
    const move = await inject('POST', `/c/${ids.sales}/department`, who.sam, { csrf: who.sam?.csrf ?? '' });
    expect(move.statusCode).toBe(303);
    const merge = await f.web.inject({
      method: 'POST',
      url: `/c/${ids.sales}/merge`,
      headers: {
        cookie: who.sam?.cookie ?? '',
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: new URLSearchParams({ _csrf: who.sam?.csrf ?? '', source: `#${ids.hr}` }).toString(),
    });
    expect(merge.statusCode).toBe(404);
    const toHr = await f.web.inject({
      method: 'POST',
      url: `/c/${ids.sales}/department`,
      headers: {
        cookie: who.sam?.cookie ?? '',
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: new URLSearchParams({ _csrf: who.sam?.csrf ?? '', department: 'hr' }).toString(),
    });
    expect(toHr.headers.location).toMatch(/error=/);
    expect(dbFingerprint(f.db)).toBe(before);
  });

  it('the inbox, its views, counts and search never show an agent another department’s conversations', async () => {
    for (const q of [
      'status=all',
      'view=hr&status=all',
      'view=finance&status=all',
      'view=mine&status=all',
      'q=zebra&status=all',
      'q=Invoice&status=all',
      `tag=&assignee=&q=${encodeURIComponent('Confidential zebra')}&status=all`,
    ]) {
      const res = await inject('GET', `/inbox?${q}`, who.sam);
      expect(res.statusCode, q).toBe(200);
      for (const id of [ids.hr, ids.finance]) expect(res.body, q).not.toContain(`/c/${id}"`);
      expect(res.body, q).not.toMatch(/zebra grievance|Invoice 77/);
    }
    const all = await inject('GET', '/inbox?status=all', who.sam);
    expect(all.body).toContain(`/c/${ids.sales}"`);
    // Only its own department's view is offered (Handlebars writes = as &#x3D; in attributes).
    expect(all.body).toMatch(/href="\/inbox\?view(=|&#x3D;)sales\b/);
    expect(all.body).not.toMatch(/href="\/inbox\?view(=|&#x3D;)(hr|finance|pr|customer_service)\b/);
    // The control: an admin's search does find the HR conversation.
    expect((await inject('GET', '/inbox?q=zebra&status=all', who.ada)).body).toContain(`/c/${ids.hr}"`);
  });

  it('a conversation page does not reveal the same customer’s conversations in other departments', async () => {
    const page = await inject('GET', `/c/${ids.sales}`, who.sam);
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain(`/c/${ids.hr}"`);
    expect(page.body).not.toContain('zebra');
    // An admin sees every conversation of the customer.
    const admin = await inject('GET', `/c/${ids.sales}`, who.ada);
    expect(admin.body).toContain(`/c/${ids.hr}"`);
  });

  it('role boundaries hold on every enumerated route: agents keep to the desk, marketers to marketing, admin pages to admins', async () => {
    for (const r of staffRoutes.filter((x) => x.method === 'GET' || x.method === 'POST')) {
      const area = AREAS.find((a) => a.match.test(r.url));
      expect(
        area,
        `${key(r)} belongs to no role area: add it to AREAS with the roles it is for`,
      ).toBeDefined();
      const url = fillRoute(r.url, params());
      for (const role of ['agent', 'marketer'] as const) {
        if (area?.roles.includes(role)) continue;
        const as = role === 'agent' ? who.sam : who.mia;
        const res = await inject(r.method, url, as, { csrf: as?.csrf ?? '' });
        expect(res.statusCode, `${role} ${key(r)}`).toBe(403);
      }
    }
  });
});

describe('CSRF', () => {
  it('every state-changing staff route (enumerated) refuses a request without the token, with another session’s token, or with it in the query', async () => {
    const unsafe = staffRoutes.filter((r) => UNSAFE_METHODS.has(r.method));
    expect(unsafe.map(key)).toEqual(expect.arrayContaining(['POST /logout', 'POST /c/:id/close']));
    const ada = who.ada as LoggedIn;
    const bob = who.bob as LoggedIn;
    const before = dbFingerprint(f.db);
    for (const r of unsafe) {
      const url = fillRoute(r.url, params());
      const attempts: Array<{ why: string; headers: Record<string, string>; payload: string; url?: string }> =
        [
          { why: 'no token', headers: {}, payload: 'text=hi&body=hi' },
          { why: 'empty token', headers: {}, payload: '_csrf=&text=hi' },
          { why: 'another session’s token (form)', headers: {}, payload: `_csrf=${bob.csrf}&text=hi` },
          {
            why: 'another session’s token (header)',
            headers: { 'x-csrf-token': bob.csrf },
            payload: 'text=hi',
          },
          {
            why: 'token in the query only',
            headers: {},
            payload: 'text=hi',
            url: `${url}?_csrf=${ada.csrf}`,
          },
        ];
      for (const a of attempts) {
        const res = await f.web.inject({
          method: r.method as 'POST',
          url: a.url ?? url,
          headers: { cookie: ada.cookie, 'content-type': 'application/x-www-form-urlencoded', ...a.headers },
          payload: a.payload,
        });
        expect(res.statusCode, `${key(r)}: ${a.why}`).toBe(403);
      }
      const json = await f.web.inject({
        method: r.method as 'POST',
        url,
        headers: { cookie: ada.cookie, 'content-type': 'application/json' },
        payload: JSON.stringify({ _csrf: bob.csrf, name: 'x' }),
      });
      expect(json.statusCode, `${key(r)}: another session’s token in JSON`).toBe(403);
    }
    expect(dbFingerprint(f.db)).toBe(before);
    // The control: with its own token the same requests get past the check (logout last).
    for (const r of [...unsafe].sort((a, b) => Number(a.url === '/logout') - Number(b.url === '/logout'))) {
      const res = await f.web.inject({
        method: r.method as 'POST',
        url: fillRoute(r.url, params()),
        headers: { cookie: ada.cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: `_csrf=${ada.csrf}&text=hi&body=hi`,
      });
      expect(res.statusCode, `${key(r)} with its own token`).not.toBe(403);
    }
  });
});

describe('sessions and sign-in', () => {
  async function loginForm(cookie = '') {
    const form = await f.web.inject({ url: '/login' });
    return {
      cookie: [cookie, cookieHeader(form.headers['set-cookie'])].filter(Boolean).join('; '),
      csrf: hiddenCsrf(form.body),
    };
  }
  async function postLogin(cookie: string, csrf: string, username: string, password = PASSWORD, ip?: string) {
    return f.web.inject({
      method: 'POST',
      url: '/login',
      headers: {
        cookie,
        'content-type': 'application/x-www-form-urlencoded',
        ...(ip ? { 'x-forwarded-for': ip } : {}),
      },
      payload: new URLSearchParams({ _csrf: csrf, username, password }).toString(),
    });
  }
  const sessionOf = (setCookie: string | string[] | undefined) =>
    [setCookie]
      .flat()
      .find((c) => c?.startsWith(`${SESSION_COOKIE}=`))
      ?.split(';')[0]
      ?.slice(SESSION_COOKIE.length + 1);

  it('a session id planted before sign-in is never the one used after it (session fixation)', async () => {
    // The attacker holds a real session (their own login) and plants its id in the victim's browser.
    const attacker = await login(f.web, 'mallory');
    const planted = new URLSearchParams(attacker.cookie.replaceAll('; ', '&')).get(SESSION_COOKIE) ?? '';
    expect(planted).toMatch(/^[\w-]{40,}$/);
    const form = await loginForm(`${SESSION_COOKIE}=${planted}`);
    const res = await postLogin(form.cookie, form.csrf, 'ada');
    expect(res.statusCode).toBe(303);
    const issued = sessionOf(res.headers['set-cookie']);
    expect(issued).toBeTruthy();
    expect(issued).not.toBe(planted);
    const victim = await f.web.inject({ url: '/inbox', headers: { cookie: `${SESSION_COOKIE}=${issued}` } });
    expect(victim.body).toContain('<meta name="username" content="ada">');
    // The planted id is dead: it is neither the victim's session nor still the attacker's.
    const old = await f.web.inject({ url: '/inbox', headers: { cookie: `${SESSION_COOKIE}=${planted}` } });
    expect(old.statusCode).toBe(302);

    // An id the server never issued is not adopted either.
    const made = 'attacker-chosen-session-id-0123456789';
    const form2 = await loginForm(`${SESSION_COOKIE}=${made}`);
    const res2 = await postLogin(form2.cookie, form2.csrf, 'ada');
    expect(sessionOf(res2.headers['set-cookie'])).not.toBe(made);
    const chosen = await f.web.inject({ url: '/inbox', headers: { cookie: `${SESSION_COOKIE}=${made}` } });
    expect(chosen.statusCode).toBe(302);
  });

  it(`locks a user name after ${MAX_FAILURES} wrong passwords, also against X-Forwarded-For and a restart, until the window ends`, async () => {
    for (let i = 0; i < MAX_FAILURES; i++) {
      const form = await loginForm();
      const res = await postLogin(form.cookie, form.csrf, 'carol', `wrong-guess-${i}`, `203.0.113.${i}`);
      expect(res.statusCode).toBe(401);
    }
    // Right password, spoofed client addresses: still locked (trust_proxy is off, so the header is ignored).
    for (const ip of [undefined, '198.51.100.7', '127.0.0.2']) {
      const form = await loginForm();
      const res = await postLogin(form.cookie, form.csrf, 'carol', PASSWORD, ip);
      expect(res.statusCode, `X-Forwarded-For ${ip}`).toBe(429);
      expect(sessionOf(res.headers['set-cookie'])).toBeUndefined();
    }
    // A restarted server reads the same lock from the database.
    const restarted = buildWebServer({ config: f.config, db: f.db, logger: f.app.logger, clock: f.clock });
    try {
      const form = await restarted.inject({ url: '/login' });
      const res = await restarted.inject({
        method: 'POST',
        url: '/login',
        headers: {
          cookie: cookieHeader(form.headers['set-cookie']),
          'content-type': 'application/x-www-form-urlencoded',
        },
        payload: new URLSearchParams({
          _csrf: hiddenCsrf(form.body),
          username: 'carol',
          password: PASSWORD,
        }).toString(),
      });
      expect(res.statusCode).toBe(429);
    } finally {
      await restarted.close();
    }
    f.clock.advance(FAILURE_WINDOW_MS + 1000);
    const form = await loginForm();
    const ok = await postLogin(form.cookie, form.csrf, 'carol');
    expect(ok.statusCode).toBe(303);
  });

  it('behind a reverse proxy (trust_proxy on) the lock follows the address the proxy saw, not one the client wrote', async () => {
    const config = { ...f.config, web: { ...f.config.web, trust_proxy: true } };
    const proxied = buildWebServer({ config, db: f.db, logger: f.app.logger, clock: f.clock });
    // The proxy appends the peer it saw (203.0.113.9) to whatever X-Forwarded-For the client sent.
    const attempt = async (password: string, forged: string, username = 'dave') => {
      const form = await proxied.inject({ url: '/login' });
      return proxied.inject({
        method: 'POST',
        url: '/login',
        headers: {
          cookie: cookieHeader(form.headers['set-cookie']),
          'content-type': 'application/x-www-form-urlencoded',
          'x-forwarded-for': `${forged}, 203.0.113.9`,
          'x-forwarded-proto': 'https',
        },
        payload: new URLSearchParams({ _csrf: hiddenCsrf(form.body), username, password }).toString(),
      });
    };
    try {
      for (let i = 0; i < MAX_FAILURES; i++)
        expect((await attempt(`wrong-guess-${i}`, `198.51.100.${i}`)).statusCode).toBe(401);
      expect((await attempt(PASSWORD, '198.51.100.200')).statusCode).toBe(429);
      // The proxy's other header still counts: behind TLS the session cookie is Secure.
      const other = await attempt(PASSWORD, '198.51.100.201', 'bob');
      expect(other.statusCode).toBe(303);
      expect([other.headers['set-cookie']].flat().find((c) => c?.startsWith(`${SESSION_COOKIE}=`))).toMatch(
        /; Secure/,
      );
    } finally {
      await proxied.close();
    }
  });
});
