import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientKey,
  FAILURE_WINDOW_MS,
  MAX_FAILURES,
  MAX_IP_FAILURES,
} from '../../src/web/auth/login-throttle.ts';
import { SESSION_COOKIE } from '../../src/web/auth/sessions.ts';
import { buildWebServer } from '../../src/web/index.ts';
import { addStaff, cookieHeader, type FullApp, hiddenCsrf, PASSWORD, startFullApp } from './helpers.ts';

/**
 * The sign-in throttle counts failures per client address + user name (MAX_FAILURES) and per client
 * address alone (MAX_IP_FAILURES, any user names), so an address spraying many user names with a
 * few guesses each is slowed too. The address is the TCP peer, or with web.trust_proxy the one the
 * reverse proxy saw: never an X-Forwarded-For entry the client wrote. Driven through the login form
 * of the app as `mailroom start` builds it (CSRF cookie + hidden field).
 */

let f: FullApp;

beforeAll(async () => {
  f = await startFullApp();
  for (const name of ['ada', 'mallory', 'bob', 'erin']) await addStaff(f.db, name, 'admin');
});

afterAll(async () => {
  await f?.close();
});

interface From {
  /** The TCP peer (light-my-request's fake socket). */
  peer: string;
  /** An X-Forwarded-For header, as a client or proxy sent it. */
  xff?: string;
}

async function attempt(web: FastifyInstance, from: From, username: string, password: string) {
  const form = await web.inject({ url: '/login', remoteAddress: from.peer });
  const res = await web.inject({
    method: 'POST',
    url: '/login',
    remoteAddress: from.peer,
    headers: {
      cookie: cookieHeader(form.headers['set-cookie']),
      'content-type': 'application/x-www-form-urlencoded',
      ...(from.xff ? { 'x-forwarded-for': from.xff } : {}),
    },
    payload: new URLSearchParams({ _csrf: hiddenCsrf(form.body), username, password }).toString(),
  });
  const session = [res.headers['set-cookie']].flat().some((c) => c?.startsWith(`${SESSION_COOKIE}=`));
  return { status: res.statusCode, session };
}

/** `n` wrong passwords, each for a different (mostly made-up) user name: below every per-name limit. */
async function spray(web: FastifyInstance, from: (i: number) => From, n: number, prefix: string) {
  for (let i = 0; i < n; i++) {
    const r = await attempt(web, from(i), `${prefix}-${i}`, `wrong-guess-${i}`);
    expect(r.status, `spray attempt ${i}`).toBe(401);
  }
}

describe('login throttle per client address', () => {
  it(`locks an address after ${MAX_IP_FAILURES} failures over many user names, the right password included, until the window ends`, async () => {
    expect(MAX_IP_FAILURES).toBeGreaterThan(MAX_FAILURES);
    const attacker = { peer: '198.51.100.10' };
    await spray(f.web, () => attacker, MAX_IP_FAILURES, 'sprayed');
    // Even a real user's right password from that address is refused, without a session.
    expect(await attempt(f.web, attacker, 'ada', PASSWORD)).toEqual({ status: 429, session: false });
    // A forged X-Forwarded-For does not help: trust_proxy is off, so the header is ignored.
    expect(await attempt(f.web, { ...attacker, xff: '192.0.2.77' }, 'ada', PASSWORD)).toEqual({
      status: 429,
      session: false,
    });
    // Another address is not affected.
    expect(await attempt(f.web, { peer: '198.51.100.11' }, 'ada', PASSWORD)).toEqual({
      status: 303,
      session: true,
    });
    f.clock.advance(FAILURE_WINDOW_MS + 1000);
    expect((await attempt(f.web, attacker, 'ada', PASSWORD)).status).toBe(303);
  });

  it('a successful login to one’s own account does not reset the address budget', async () => {
    const attacker = { peer: '198.51.100.20' };
    await spray(f.web, () => attacker, MAX_IP_FAILURES - 1, 'before-own-login');
    expect((await attempt(f.web, attacker, 'mallory', PASSWORD)).status).toBe(303);
    expect((await attempt(f.web, attacker, 'made-up-name', 'wrong')).status).toBe(401);
    expect((await attempt(f.web, attacker, 'mallory', PASSWORD)).status).toBe(429);
    f.clock.advance(FAILURE_WINDOW_MS + 1000);
  });

  it(`keeps the per-name limit: ${MAX_FAILURES} failures lock that name from that address, not the address`, async () => {
    const office = { peer: '198.51.100.30' };
    for (let i = 0; i < MAX_FAILURES; i++)
      expect((await attempt(f.web, office, 'bob', `wrong-${i}`)).status).toBe(401);
    expect(await attempt(f.web, office, 'bob', PASSWORD)).toEqual({ status: 429, session: false });
    // Colleagues behind the same address still sign in; bob from elsewhere too.
    expect((await attempt(f.web, office, 'erin', PASSWORD)).status).toBe(303);
    expect((await attempt(f.web, { peer: '198.51.100.31' }, 'bob', PASSWORD)).status).toBe(303);
    f.clock.advance(FAILURE_WINDOW_MS + 1000);
    expect((await attempt(f.web, office, 'bob', PASSWORD)).status).toBe(303);
  });

  it('counts an IPv6 client by its /64, so rotating addresses inside it does not reset the budget', async () => {
    const inPrefix = (i: number) => ({ peer: `2001:db8:aa:bb:${(i + 1).toString(16)}::${i + 7}` });
    await spray(f.web, inPrefix, MAX_IP_FAILURES, 'v6-sprayed');
    expect((await attempt(f.web, { peer: '2001:db8:aa:bb:ffff::1' }, 'ada', PASSWORD)).status).toBe(429);
    expect((await attempt(f.web, { peer: '2001:db8:aa:bc::1' }, 'ada', PASSWORD)).status).toBe(303);
    // IPv4 seen through an IPv6 socket is the same client as plain IPv4.
    expect(clientKey('::ffff:198.51.100.10')).toBe('198.51.100.10');
    expect(clientKey('2001:0db8:00aa:00bb:1:2:3:4')).toBe('2001:db8:aa:bb::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    f.clock.advance(FAILURE_WINDOW_MS + 1000);
  });

  it('behind a reverse proxy (trust_proxy on) the address is the one the proxy saw, whatever the client wrote', async () => {
    const config = { ...f.config, web: { ...f.config.web, trust_proxy: true } };
    const proxied = buildWebServer({ config, db: f.db, logger: f.app.logger, clock: f.clock });
    try {
      // The proxy (127.0.0.1) appends the peer it saw to whatever the client sent; the attacker
      // forges a new first entry every time.
      const attacker = (i: number) => ({ peer: '127.0.0.1', xff: `192.0.2.${i}, 203.0.113.40` });
      await spray(proxied, attacker, MAX_IP_FAILURES, 'proxied-sprayed');
      expect((await attempt(proxied, attacker(250), 'ada', PASSWORD)).status).toBe(429);
      // Another client through the same proxy is not locked, nor is the proxy's own address.
      expect(
        (await attempt(proxied, { peer: '127.0.0.1', xff: '203.0.113.41' }, 'ada', PASSWORD)).status,
      ).toBe(303);
      expect((await attempt(f.web, { peer: '127.0.0.1' }, 'ada', PASSWORD)).status).toBe(303);
    } finally {
      await proxied.close();
    }
  });
});
