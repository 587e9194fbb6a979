/**
 * TLS modes against Dovecot with a certificate from a throwaway CA (openssl CLI): implicit TLS
 * (IMAPS) and STARTTLS ingest when the account trusts that CA through ca_file; a certificate the
 * client does not trust, or one for another host name, is refused with a clear last_error and
 * nothing is read; a server without STARTTLS is never used in cleartext when the account asks
 * for STARTTLS.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ImapPoller } from '../../src/ingest/index.ts';
import { makeTestCertificates } from '../harness/dovecot.ts';
import {
  appendMessages,
  binary,
  createImapUser,
  createLoginReadyUser,
  dovecotInfo,
  type RunningDovecot,
  startDovecot,
  tempDir,
} from '../harness/index.ts';
import { setup } from './helpers.ts';
import { account, count, logins, messages, startPoller, storedFrom, waitFor } from './imap-kit.ts';

const pollers: ImapPoller[] = [];
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await Promise.all(pollers.splice(0).map((p) => p.stop()));
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const dovecotBin = binary('dovecot');

async function tlsDovecot(
  hostnames?: string[],
): Promise<RunningDovecot & { tls: NonNullable<RunningDovecot['tls']> }> {
  const server = await startDovecot(dovecotBin as string, { tls: hostnames ? { hostnames } : true });
  cleanup.push(() => server.stop());
  if (!server.tls) throw new Error('no TLS');
  return server as RunningDovecot & { tls: NonNullable<RunningDovecot['tls']> };
}

describe.skipIf(!dovecotBin)('IMAP TLS modes (Dovecot with a test CA)', () => {
  it('implicit TLS and STARTTLS ingest with the CA from ca_file; untrusted certificates are refused', {
    timeout: 60_000,
  }, async () => {
    const server = await tlsDovecot();
    const other = makeTestCertificates(tempDir('mailroom-other-ca-'), ['localhost', '127.0.0.1'], 'other');
    const t = setup();
    const users = await Promise.all([1, 2, 3, 4, 5].map(() => createLoginReadyUser(server)));
    const [imaps, starttls, untrusted, untrustedStarttls, wrongCa] = users as [
      (typeof users)[0],
      (typeof users)[0],
      (typeof users)[0],
      (typeof users)[0],
      (typeof users)[0],
    ];
    for (const u of users) await appendMessages(u, messages(2, u.user.slice(0, 6)));
    const ca = server.tls.caFile;
    const p = startPoller(
      t,
      [
        account(imaps, { id: 'imaps', port: server.tls.imapsPort, tls: 'implicit', ca_file: ca }),
        account(starttls, { id: 'starttls', tls: 'starttls', ca_file: ca }),
        account(untrusted, { id: 'untrusted', port: server.tls.imapsPort, tls: 'implicit' }),
        account(untrustedStarttls, { id: 'untrusted-starttls', tls: 'starttls' }),
        account(wrongCa, {
          id: 'wrong-ca',
          port: server.tls.imapsPort,
          tls: 'implicit',
          ca_file: other.caFile,
        }),
      ],
      Object.fromEntries(
        [
          ['imaps', imaps],
          ['starttls', starttls],
          ['untrusted', untrusted],
          ['untrusted-starttls', untrustedStarttls],
          ['wrong-ca', wrongCa],
        ].map(([id, u]) => [id as string, { password: (u as typeof imaps).pass }]),
      ),
      pollers,
    );
    const st = (id: string) => p.status().find((s) => s.account === id);
    await waitFor(
      'the trusted accounts idle and the others refused',
      () =>
        st('imaps')?.state === 'idle' &&
        st('starttls')?.state === 'idle' &&
        ['untrusted', 'untrusted-starttls', 'wrong-ca'].every((id) => (st(id)?.reconnects ?? 0) >= 2),
    );
    expect(count(t)).toBe(4);
    expect([...new Set(storedFrom(t).map((r) => r.account))].sort()).toEqual(['imaps', 'starttls']);
    // Dovecot says each login went over TLS; no login at all for the refused ones.
    for (const u of [imaps, starttls]) {
      const mine = logins(server.dir, u.user).slice(-1)[0] ?? '';
      expect(mine).toMatch(/, TLS[,:]/);
    }
    // The harness's own logins (STARTTLS, trusting the CA) are the only ones for these users.
    for (const u of [untrusted, untrustedStarttls, wrongCa])
      expect(logins(server.dir, u.user)).toHaveLength(2);

    for (const id of ['untrusted', 'untrusted-starttls']) {
      expect(st(id)?.lastError).toBe(
        `TLS certificate of 127.0.0.1:${id === 'untrusted' ? server.tls.imapsPort : server.port} refused ` +
          '(unable to verify the first certificate, UNABLE_TO_VERIFY_LEAF_SIGNATURE): ' +
          'set ca_file to the CA that issued it if the server uses a private CA',
      );
      expect(st(id)?.mailboxes[0]?.lastError).toBe(st(id)?.lastError);
    }
    expect(st('wrong-ca')?.lastError).toMatch(
      /^TLS certificate of 127\.0\.0\.1:\d+ refused \(.*UNABLE_TO_VERIFY_LEAF_SIGNATURE\): it is not issued by the CA in ca_file .*other-ca\.pem$/,
    );
    console.log('untrusted:', st('untrusted')?.lastError, '\nwrong CA:', st('wrong-ca')?.lastError);

    // New mail keeps coming in over both TLS modes (IDLE over TLS).
    await appendMessages(imaps, messages(1, 'imaps-new'));
    await appendMessages(starttls, messages(1, 'starttls-new'));
    await waitFor('new mail over TLS', () => count(t) === 6, 10_000);
  });

  it('a trusted CA does not excuse a certificate issued for another host name', {
    timeout: 30_000,
  }, async () => {
    const server = await tlsDovecot(['imap.example.test']);
    const t = setup();
    // Refused before any login: the user need not be login-ready (nor could the harness log in
    // over STARTTLS to a server whose certificate names another host).
    const u = createImapUser(server);
    const p = startPoller(
      t,
      [account(u, { port: server.tls.imapsPort, tls: 'implicit', ca_file: server.tls.caFile })],
      { shop: { password: u.pass } },
      pollers,
    );
    await waitFor('refused', () => (p.status()[0]?.reconnects ?? 0) >= 1);
    expect(p.status()[0]?.lastError).toMatch(
      /^TLS certificate of 127\.0\.0\.1:\d+ refused \(.*ERR_TLS_CERT_ALTNAME_INVALID\): the certificate is not issued for "127\.0\.0\.1"$/,
    );
    expect(count(t)).toBe(0);
  });

  it('an account set to STARTTLS never logs in in cleartext when the server does not offer it', {
    timeout: 30_000,
  }, async () => {
    const shared = dovecotInfo();
    const server = shared ?? (await startDovecot(dovecotBin as string));
    if (!shared) cleanup.push(() => (server as RunningDovecot).stop());
    const t = setup();
    const u = await createLoginReadyUser(server);
    await appendMessages(u, messages(1, 'plain'));
    const before = logins(server.dir, u.user).length;
    const p = startPoller(t, [account(u, { tls: 'starttls' })], { shop: { password: u.pass } }, pollers);
    await waitFor('refused', () => (p.status()[0]?.reconnects ?? 0) >= 2);
    console.log('STARTTLS not offered:', p.status()[0]?.lastError);
    expect(p.status()[0]?.lastError).toMatch(/STARTTLS/i);
    expect(logins(server.dir, u.user)).toHaveLength(before);
    expect(count(t)).toBe(0);
  });
});
