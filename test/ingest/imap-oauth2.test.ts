/**
 * OAuth2 access tokens against a real server: Dovecot's oauth2 passdb checks every token with an
 * RFC 7662 introspection POST to a small HTTP server the test runs, so a token is good exactly
 * while the test says so. Passwords keep working for the same users (the harness appends mail
 * with them).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import type { ImapCredentials, ImapPoller } from '../../src/ingest/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { appendMessages, binary, createLoginReadyUser, startDovecot, tempDir } from '../harness/index.ts';
import { setup } from './helpers.ts';
import {
  account,
  count,
  logins,
  messages,
  startIntrospection,
  startPoller,
  startProxy,
  storedFrom,
  waitFor,
} from './imap-kit.ts';

const pollers: ImapPoller[] = [];
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await Promise.all(pollers.splice(0).map((p) => p.stop()));
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const dovecotBin = binary('dovecot');

async function oauthDovecot(
  opts: { mechanisms?: Array<'xoauth2' | 'oauthbearer'>; tls?: boolean; authPenalty?: boolean } = {},
) {
  const idp = await startIntrospection();
  cleanup.push(() => idp.close());
  const server = await startDovecot(dovecotBin as string, {
    oauth2: { introspectionUrl: idp.url, ...(opts.mechanisms ? { mechanisms: opts.mechanisms } : {}) },
    ...(opts.tls ? { tls: true } : {}),
    ...(opts.authPenalty === false ? { authPenalty: false } : {}),
  });
  cleanup.push(() => server.stop());
  return { idp, server };
}

describe.skipIf(!dovecotBin)('IMAP with OAuth2 access tokens (Dovecot oauth2 passdb)', () => {
  it('XOAUTH2: ingests with a valid token, reports a refused one, fetches the token again on every connect', {
    timeout: 90_000,
  }, async () => {
    // Only XOAUTH2 offered, so the client has to use it (imapflow prefers OAUTHBEARER). Dovecot's
    // auth penalty is off: it answers repeated failures from 127.0.0.1 ever more slowly (up to
    // 15 s each), and this test provokes many of them and waits for their answers.
    const { idp, server } = await oauthDovecot({ mechanisms: ['xoauth2'], authPenalty: false });
    const t = setup();
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => createLoginReadyUser(server)));
    if (!a || !b || !c) throw new Error('users');
    await appendMessages(a, [], 'Sales');
    let token = 'tok-1';
    idp.grant('tok-1', a.user);
    idp.grant('tok-b-old', b.user);
    idp.revoke('tok-b-old'); // expired: the server no longer accepts it
    const calls: Record<string, number> = {};
    const credentials = async (id: string): Promise<ImapCredentials> => {
      calls[id] = (calls[id] ?? 0) + 1;
      if (id === 'oauth') return { accessToken: token };
      if (id === 'expired') return { accessToken: 'tok-b-old' };
      return { password: c.pass };
    };
    const proxy = await startProxy(server.port);
    cleanup.push(() => proxy.close());
    const p = startPoller(
      t,
      [
        account(a, { id: 'oauth', port: proxy.port, mailboxes: ['INBOX', 'Sales'] }),
        account(b, { id: 'expired' }),
        account(c, { id: 'pw' }),
      ],
      credentials,
      pollers,
      { baseMs: 50, maxMs: 500, authBaseMs: 200, authMaxMs: 1000 },
    );
    const st = (id: string) => p.status().find((s) => s.account === id);
    await waitFor('oauth and pw idle', () => st('oauth')?.state === 'idle' && st('pw')?.state === 'idle');
    await appendMessages(a, messages(1, 'tokmail'), 'Sales');
    await appendMessages(a, messages(1, 'tokinbox'), 'INBOX');
    await appendMessages(c, messages(1, 'pwmail'));
    await waitFor('mail of both working accounts', () => count(t) === 3, 10_000);
    expect(
      storedFrom(t)
        .map((r) => r.account)
        .sort(),
    ).toEqual(['oauth', 'oauth', 'pw']);

    // It was XOAUTH2, checked by the introspection server.
    // (The harness itself logs in with passwords: PLAIN lines, not counted.)
    const viaToken = (user: string, mech = 'XOAUTH2') =>
      logins(server.dir, user).filter((l) => l.includes(`method=${mech}`));
    expect(viaToken(a.user)).toHaveLength(2); // one per watched mailbox
    expect(idp.seen).toContain('tok-1');

    // The expired token: a clear error, recorded for each of its mailboxes, retried with backoff.
    await waitFor('expired token reported', () => (st('expired')?.reconnects ?? 0) >= 1, 15_000);
    const bad = st('expired');
    expect(bad?.lastError).toMatch(
      /^authentication failed for .* with an OAuth2 access token \(XOAUTH2\/OAUTHBEARER\); server said: \[AUTHENTICATIONFAILED\] .*token is wrong, expired or revoked$/,
    );
    expect(bad?.lastError).not.toContain('tok-b-old');
    expect(bad?.mailboxes[0]?.lastError).toBe(bad?.lastError);
    expect(idp.seen).toContain('tok-b-old');
    expect(viaToken(b.user)).toEqual([]);

    // One credentials call per connection so far: two mailboxes, two connects.
    expect(calls.oauth).toBe(2);
    // The token is rotated; the old one dies. A drop makes both connections log in again, and
    // each asks for the token again: the new one is used, and mail sent meanwhile comes in.
    idp.grant('tok-2', a.user);
    idp.revoke('tok-1');
    token = 'tok-2';
    proxy.down();
    await waitFor('drop noticed', () => (st('oauth')?.connections ?? []).every((x) => x.reconnects > 0));
    await appendMessages(a, messages(2, 'rotated'), 'Sales');
    proxy.up();
    await waitFor(
      'mail after the token rotation',
      () => count(t) === 5 && st('oauth')?.state === 'idle',
      15_000,
    );
    expect(calls.oauth).toBeGreaterThanOrEqual(4);
    expect(idp.seen.lastIndexOf('tok-2')).toBeGreaterThan(idp.seen.lastIndexOf('tok-1'));
    expect(st('oauth')?.lastError).toBeNull();
    expect(st('oauth')?.mailboxes.map((m) => m.lastError)).toEqual([null, null]);

    // A token revoked with nothing to replace it: reported on the next connect; a new one heals it.
    idp.revoke('tok-2');
    proxy.cut();
    await waitFor(
      'revoked token reported for both mailboxes',
      () => st('oauth')?.mailboxes.every((m) => /^authentication failed/.test(m.lastError ?? '')) ?? false,
      15_000,
    );
    expect(st('oauth')?.lastError).toMatch(/^authentication failed/);
    // Only one of the account's two connections keeps trying; the other waits for its answer.
    const tries = () => (st('oauth')?.connections ?? []).map((x) => x.reconnects);
    const [i0, s0] = tries() as [number, number];
    await waitFor('two more refused logins', () => Math.max(...tries()) >= Math.max(i0, s0) + 2, 15_000);
    const [i1, s1] = tries() as [number, number];
    expect(Math.min(i1 - i0, s1 - s0)).toBe(0);
    idp.grant('tok-3', a.user);
    token = 'tok-3';
    await waitFor('recovered with the new token', () => st('oauth')?.state === 'idle', 20_000);
    await appendMessages(a, messages(1, 'healed'), 'INBOX');
    await waitFor('mail after recovery', () => count(t) === 6, 10_000);
    // The password account was never disturbed.
    expect(st('pw')?.reconnects).toBe(0);
  });

  it('OAUTHBEARER (RFC 7628) is used when the server offers it', { timeout: 30_000 }, async () => {
    const { idp, server } = await oauthDovecot();
    const t = setup();
    const u = await createLoginReadyUser(server);
    idp.grant('bearer-1', u.user);
    await appendMessages(u, messages(2, 'bearer'));
    const p = startPoller(t, [account(u)], { shop: { accessToken: 'bearer-1' } }, pollers);
    await waitFor('stored', () => count(t) === 2 && p.status()[0]?.state === 'idle');
    expect(logins(server.dir, u.user).filter((l) => l.includes('method=OAUTHBEARER'))).toHaveLength(1);
  });

  it('through the composition root: access_token_env and ca_file from mailroom.yaml, over STARTTLS', {
    timeout: 30_000,
  }, async () => {
    const { idp, server } = await oauthDovecot({ mechanisms: ['xoauth2'], tls: true });
    const u = await createLoginReadyUser(server);
    idp.grant('env-token', u.user);
    await appendMessages(u, messages(3, 'viaapp'));
    const dir = tempDir('mailroom-oauth-app-');
    const file = path.join(dir, 'mailroom.yaml');
    writeFileSync(
      file,
      stringify({
        data_dir: './data',
        mail: { domain: 'shop.example', from: 'Shop <support@shop.example>' },
        imap: {
          accounts: [
            {
              id: 'shop',
              host: server.host,
              port: server.port,
              tls: 'starttls',
              ca_file: server.tls?.caFile,
              user: u.user,
              access_token_env: 'SHOP_IMAP_TOKEN',
              history: 'all',
              poll_interval_s: 300,
            },
          ],
        },
      }),
    );
    const config = loadConfig({ configPath: file, env: { SHOP_IMAP_TOKEN: 'env-token' } });
    const app = await createApp({ config, logger: silentLogger() });
    cleanup.push(() => app.stop(5000));
    await app.start(['poller']);
    const stored = () =>
      (app.db.prepare("SELECT count(*) n FROM messages WHERE direction = 'in'").get() as { n: number }).n;
    await waitFor(
      'stored through the app',
      () => stored() === 3 && app.poller?.status()[0]?.state === 'idle',
    );
    const viaToken = logins(server.dir, u.user).filter((l) => l.includes('method=XOAUTH2'));
    expect(viaToken).toHaveLength(1);
    expect(viaToken[0]).toMatch(/, TLS[,:]/);
  });

  it('through the composition root: access_token_file next to mailroom.yaml is read again on every connect', {
    timeout: 60_000,
  }, async () => {
    // Plain IMAP through a proxy the test can cut; the server accepts only XOAUTH2 tokens.
    const { idp, server } = await oauthDovecot({ mechanisms: ['xoauth2'], authPenalty: false });
    const proxy = await startProxy(server.port);
    cleanup.push(() => proxy.close());
    const u = await createLoginReadyUser(server);
    idp.grant('first-token', u.user);
    await appendMessages(u, messages(2, 'beforerotation'));
    const dir = tempDir('mailroom-oauth-file-');
    writeFileSync(path.join(dir, 'token.txt'), 'first-token\n');
    writeFileSync(
      path.join(dir, 'mailroom.yaml'),
      stringify({
        data_dir: './data',
        mail: { domain: 'shop.example', from: 'Shop <support@shop.example>' },
        imap: {
          accounts: [
            {
              id: 'shop',
              host: '127.0.0.1',
              port: proxy.port,
              tls: 'none',
              user: u.user,
              access_token_file: 'token.txt',
              history: 'all',
              poll_interval_s: 300,
            },
          ],
        },
      }),
    );
    // Loaded from another working directory: the token file resolves against the config file.
    const config = loadConfig({ configPath: path.join(dir, 'mailroom.yaml'), cwd: tempDir(), env: {} });
    const app = await createApp({ config, logger: silentLogger() });
    cleanup.push(() => app.stop(5000));
    await app.start(['poller']);
    const stored = () =>
      (app.db.prepare("SELECT count(*) n FROM messages WHERE direction = 'in'").get() as { n: number }).n;
    await waitFor('the first two stored', () => stored() === 2 && app.poller?.status()[0]?.state === 'idle');

    // The identity provider rotates the token; a refresher rewrites the file; the connection drops.
    idp.revoke('first-token');
    idp.grant('second-token', u.user);
    writeFileSync(path.join(dir, 'token.txt'), 'second-token\n');
    await appendMessages(u, messages(1, 'afterrotation'));
    proxy.cut();
    // Stored, and the sync that stored it finished (the connection's error clears after the sync).
    await waitFor(
      'the mail after the rotation stored',
      () =>
        stored() === 3 && app.poller?.status()[0]?.state === 'idle' && !app.poller?.status()[0]?.lastError,
    );
    await waitFor(
      'the second XOAUTH2 login in the Dovecot log',
      () => logins(server.dir, u.user).filter((l) => l.includes('method=XOAUTH2')).length >= 2,
    );
  });
});
