import { statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  addUser,
  cookieHeader,
  hiddenCsrf,
  login,
  makeWeb,
  PASSWORD,
  postForm,
  seedConversation,
  type TestWeb,
} from './helpers.ts';

const PUBLIC = new Set(['/healthz', '/login', '/static/*', '/static/']);

let web: TestWeb | undefined;
afterEach(async () => {
  await web?.app.close();
  web?.db.close();
  web = undefined;
});

async function setup(env: Record<string, string> = {}) {
  web = await makeWeb({}, env);
  const routes: { method: string; url: string }[] = [];
  web.app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) routes.push({ method: m, url: r.url });
  });
  await web.app.ready();
  return { web, routes };
}

describe('staff sign-in and sessions', () => {
  it('refuses every staff route without a session (login redirect or 401), leaving only health, login and static public', async () => {
    const { web, routes } = await setup();
    const staff = routes.filter((r) => !PUBLIC.has(r.url) && r.method !== 'HEAD');
    expect(staff.length).toBeGreaterThan(12);
    for (const r of staff) {
      const url = r.url.replace(/:(\w+)/g, '1');
      const res = await web.app.inject({
        method: r.method as 'GET',
        url,
        payload: r.method === 'POST' ? {} : undefined,
      });
      expect([302, 401], `${r.method} ${r.url}`).toContain(res.statusCode);
      if (res.statusCode === 302) expect(res.headers.location).toMatch(/^\/login\?next=/);
    }
  });

  it('logs in with the right password and sets an HttpOnly SameSite=Lax cookie; a wrong password is refused', async () => {
    const { web } = await setup();
    await addUser(web.db, 'alice', 'admin');
    await expect(login(web.app, 'alice', 'wrong password!')).rejects.toThrow(/401/);
    const form = await web.app.inject({ url: '/login' });
    const res = await web.app.inject({
      method: 'POST',
      url: '/login',
      headers: {
        cookie: cookieHeader(form.headers['set-cookie']),
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: new URLSearchParams({
        _csrf: hiddenCsrf(form.body),
        username: 'alice',
        password: PASSWORD,
      }).toString(),
    });
    expect(res.statusCode).toBe(303);
    const session = [res.headers['set-cookie']].flat().find((c) => c?.startsWith('mr_session='));
    expect(session).toMatch(/HttpOnly/);
    expect(session).toMatch(/SameSite=Lax/);
    expect(session).not.toMatch(/Secure/);
    const inbox = await web.app.inject({
      url: '/inbox',
      headers: { cookie: cookieHeader(res.headers['set-cookie']) },
    });
    expect(inbox.statusCode).toBe(200);
    expect(inbox.body).toContain('alice');
  });

  it("sends each role to its own first page after login: the inbox, or a marketer's lists", async () => {
    const { web } = await setup();
    await addUser(web.db, 'alice', 'admin');
    await addUser(web.db, 'mia', 'marketer');
    const home = async (name: string) =>
      (await web.app.inject({ url: '/', headers: { cookie: (await login(web.app, name)).cookie } })).headers
        .location;
    expect(await home('alice')).toBe('/inbox');
    expect(await home('mia')).toBe('/lists-admin');
  });

  it('marks the cookie Secure when the public URL is https', async () => {
    const { web } = await setup({ MAILROOM_PUBLIC_URL: 'https://mail.shop.example' });
    await addUser(web.db, 'alice', 'admin');
    const form = await web.app.inject({ url: '/login' });
    const res = await web.app.inject({
      method: 'POST',
      url: '/login',
      headers: {
        cookie: cookieHeader(form.headers['set-cookie']),
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: new URLSearchParams({
        _csrf: hiddenCsrf(form.body),
        username: 'alice',
        password: PASSWORD,
      }).toString(),
    });
    expect([res.headers['set-cookie']].flat().find((c) => c?.startsWith('mr_session='))).toMatch(/Secure/);
  });

  it('gives a new session id at login, so a planted id is never promoted, and logout ends the session', async () => {
    const { web } = await setup();
    await addUser(web.db, 'alice', 'admin');
    const first = await login(web.app, 'alice');
    const second = await login(web.app, 'alice');
    expect(first.cookie).not.toBe(second.cookie);
    const planted = 'mr_session=attacker-chosen-id';
    const res = await web.app.inject({ url: '/inbox', headers: { cookie: planted } });
    expect(res.statusCode).toBe(302);
    const out = await postForm(web.app, first, '/logout', {});
    expect(out.statusCode).toBe(303);
    expect((await web.app.inject({ url: '/inbox', headers: { cookie: first.cookie } })).statusCode).toBe(302);
    expect((await web.app.inject({ url: '/inbox', headers: { cookie: second.cookie } })).statusCode).toBe(
      200,
    );
  });

  it('refuses a POST without the CSRF token, or with another session token, and changes nothing', async () => {
    const { web } = await setup();
    await addUser(web.db, 'alice', 'admin');
    const { conversationId } = seedConversation(web.db, { department: 'sales', subject: 'Price?' });
    const who = await login(web.app, 'alice');
    const noToken = await web.app.inject({
      method: 'POST',
      url: `/c/${conversationId}/close`,
      headers: { cookie: who.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: '',
    });
    expect(noToken.statusCode).toBe(403);
    const wrong = await postForm(web.app, { ...who, csrf: 'x'.repeat(32) }, `/c/${conversationId}/close`, {});
    expect(wrong.statusCode).toBe(403);
    const status = web.db.prepare('SELECT status FROM conversations WHERE id = ?').get(conversationId) as {
      status: string;
    };
    expect(status.status).toBe('open');
    const viaHeader = await web.app.inject({
      method: 'POST',
      url: `/c/${conversationId}/close`,
      headers: {
        cookie: who.cookie,
        'x-csrf-token': who.csrf,
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: '',
    });
    expect(viaHeader.statusCode).toBe(303);
  });

  it('refuses a login form posted without its CSRF cookie', async () => {
    const { web } = await setup();
    await addUser(web.db, 'alice', 'admin');
    const form = await web.app.inject({ url: '/login' });
    const res = await web.app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        _csrf: hiddenCsrf(form.body),
        username: 'alice',
        password: PASSWORD,
      }).toString(),
    });
    expect(res.statusCode).toBe(403);
  });

  it('locks a user name from one address after 5 failures, even with the right password, and lets it in after 15 minutes', async () => {
    const { web } = await setup();
    await addUser(web.db, 'alice', 'admin');
    for (let i = 0; i < 5; i++)
      await expect(login(web.app, 'alice', `guess-${i}-xxxxx`)).rejects.toThrow(/401/);
    await expect(login(web.app, 'alice')).rejects.toThrow(/429/);
    web.clock.advance(16 * 60_000);
    await expect(login(web.app, 'alice')).resolves.toMatchObject({
      cookie: expect.stringMatching(/mr_session=/),
    });
  });

  it('sends a strict CSP without inline script, frame and sniffing protection on pages', async () => {
    const { web } = await setup();
    const res = await web.app.inject({ url: '/login' });
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['content-security-policy']).not.toContain('unsafe-inline');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('same-origin');
    expect(res.body).not.toMatch(/<script>(?!<\/script>)|<script(?![^>]*src=)[^>]*>/);
  });

  it('serves static files with cache headers', async () => {
    const { web } = await setup();
    const res = await web.app.inject({ url: '/static/app.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toMatch(/max-age=3600/);
  });

  it('creates a random session secret in the data dir with mode 0600 when none is configured', async () => {
    const { web } = await setup();
    const st = statSync(path.join(web.config.paths.dataDir, 'session-secret'));
    expect(st.mode & 0o777).toBe(0o600);
  });

  it('keeps marketers out of the inbox and agents out of admin pages', async () => {
    const { web } = await setup();
    await addUser(web.db, 'mia', 'marketer');
    await addUser(web.db, 'sam', 'agent', ['sales']);
    const mia = await login(web.app, 'mia');
    expect((await web.app.inject({ url: '/inbox', headers: { cookie: mia.cookie } })).statusCode).toBe(403);
    const sam = await login(web.app, 'sam');
    expect((await web.app.inject({ url: '/admin/health', headers: { cookie: sam.cookie } })).statusCode).toBe(
      403,
    );
  });

  it('puts plugins mounted through staffPlugins behind login, CSRF and their roles', async () => {
    web = await makeWeb({
      staffPlugins: [
        {
          prefix: '/marketing',
          roles: ['marketer', 'admin'],
          plugin: async (app) => {
            app.get('/lists', async () => ({ lists: [] }));
            app.post('/lists', async () => ({ created: true }));
          },
        },
      ],
    });
    await addUser(web.db, 'mia', 'marketer');
    await addUser(web.db, 'sam', 'agent', ['sales']);
    expect((await web.app.inject({ url: '/marketing/lists' })).statusCode).toBe(302);
    const mia = await login(web.app, 'mia');
    expect(
      (await web.app.inject({ url: '/marketing/lists', headers: { cookie: mia.cookie } })).json(),
    ).toEqual({ lists: [] });
    const noCsrf = await web.app.inject({
      method: 'POST',
      url: '/marketing/lists',
      headers: { cookie: mia.cookie },
      payload: {},
    });
    expect(noCsrf.statusCode).toBe(403);
    const ok = await web.app.inject({
      method: 'POST',
      url: '/marketing/lists',
      headers: { cookie: mia.cookie, 'x-csrf-token': mia.csrf },
      payload: {},
    });
    expect(ok.json()).toEqual({ created: true });
    const sam = await login(web.app, 'sam');
    expect(
      (await web.app.inject({ url: '/marketing/lists', headers: { cookie: sam.cookie } })).statusCode,
    ).toBe(403);
  });
});
