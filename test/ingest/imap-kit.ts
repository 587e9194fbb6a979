/** Shared by the IMAP connection suites (per-mailbox IDLE, OAuth2, TLS). */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { ImapAccountConfig } from '../../src/config/index.ts';
import {
  createImapPoller,
  type ImapCredentials,
  type ImapPoller,
  type ImapPollerDeps,
} from '../../src/ingest/index.ts';
import { randomId, silentLogger } from '../../src/lib/index.ts';
import type { ImapUser } from '../harness/index.ts';
import type { setup } from './helpers.ts';

export type Rig = ReturnType<typeof setup>;

export function account(u: Pick<ImapUser, 'host' | 'port' | 'user'>, over: Partial<ImapAccountConfig> = {}) {
  return {
    id: 'shop',
    host: u.host,
    port: u.port,
    tls: 'none',
    user: u.user,
    mailboxes: ['INBOX'],
    after_ingest: 'leave',
    flag: '\\Seen',
    history: 'all',
    poll_interval_s: 300,
    ...over,
  } satisfies ImapAccountConfig as ImapAccountConfig;
}

export function messages(n: number, tag = randomId(4)): string[] {
  return Array.from(
    { length: n },
    (_, i) =>
      `From: buyer${i}@customer.example\r\nTo: support@shop.example\r\nSubject: ${tag} question ${i}\r\n` +
      `Message-ID: <${tag}-${i}@customer.example>\r\nDate: Mon, 5 Jan 2026 10:00:00 +0000\r\n\r\nHello ${i}\r\n`,
  );
}

export function startPoller(
  t: Rig,
  accounts: ImapAccountConfig[],
  credentials: Record<string, ImapCredentials> | ((id: string) => Promise<ImapCredentials>),
  pollers: ImapPoller[],
  backoff: ImapPollerDeps['backoff'] = { baseMs: 50, maxMs: 500 },
): ImapPoller {
  const poller = createImapPoller({
    accounts,
    credentials,
    db: t.db,
    pipeline: t.pipeline,
    clock: t.clock,
    logger: silentLogger(),
    batchSize: 100,
    backoff,
  });
  pollers.push(poller);
  poller.start();
  return poller;
}

export { waitFor } from '../harness/index.ts';

/** Subjects of stored inbound mail, with the account and mailbox each came from. */
export function storedFrom(t: Rig): Array<{ subject: string; account: string; mailbox: string }> {
  return t.db
    .prepare(
      `SELECT m.subject, u.account, u.mailbox FROM messages m
       JOIN ingest_uids u ON u.message_row = m.id WHERE m.direction = 'in' ORDER BY m.id`,
    )
    .all() as Array<{ subject: string; account: string; mailbox: string }>;
}

export const count = (t: Rig) =>
  (t.db.prepare("SELECT count(*) n FROM messages WHERE direction = 'in'").get() as { n: number }).n;

/** Dovecot's log lines for logins (they name the SASL mechanism and say TLS when it was used). */
export function logins(dovecotDir: string, user: string): string[] {
  return readFileSync(path.join(dovecotDir, 'dovecot.log'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('imap-login: Info: Login:') && l.includes(`user=<${user}>`));
}

/**
 * A loopback TCP proxy whose connections a test can cut, and which can refuse new ones for a
 * while (a server that is down), so a reconnect can be forced and held off.
 */
export async function startProxy(target: number): Promise<{
  port: number;
  connections(): number;
  cut(): void;
  down(): void;
  up(): void;
  close(): void;
}> {
  const sockets = new Set<net.Socket>();
  let refusing = false;
  let live = 0;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    live++;
    const upstream = net.connect(target, '127.0.0.1');
    let open = true;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        if (open) live--;
        open = false;
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const cut = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    port,
    connections: () => live,
    cut,
    down: () => {
      refusing = true;
      cut();
    },
    up: () => {
      refusing = false;
    },
    close: () => {
      cut();
      server.close();
    },
  };
}

/**
 * An OAuth2 token introspection endpoint (RFC 7662) as Dovecot's oauth2 passdb calls it: a POST
 * of `token=...`, answered `{"active": true, "username": ...}` for a token it knows and has not
 * revoked, `{"active": false}` otherwise.
 */
export async function startIntrospection(): Promise<{
  url: string;
  /** Issues (or replaces) a token for a user. */
  grant(token: string, username: string): void;
  revoke(token: string): void;
  /** Tokens presented, in order. */
  seen: string[];
  close(): Promise<void>;
}> {
  const tokens = new Map<string, string>();
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString('utf8');
    });
    req.on('end', () => {
      const token = new URLSearchParams(body).get('token') ?? '';
      seen.push(token);
      const username = tokens.get(token);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(username ? { active: true, username, scope: 'imap' } : { active: false }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/introspect`,
    grant: (token, username) => void tokens.set(token, username),
    revoke: (token) => void tokens.delete(token),
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
