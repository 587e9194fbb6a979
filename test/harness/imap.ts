import { appendFileSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { randomId } from '../../src/lib/index.ts';
import type { DovecotInfo, DovecotTls } from './dovecot.ts';

export interface ImapUser {
  host: string;
  port: number;
  user: string;
  pass: string;
  /** PEM of the CA to trust, for a Dovecot started with `tls`: the harness client then requires STARTTLS. */
  ca?: string;
}

/** Adds a user to the passwd-file of a running Dovecot; it can log in at once. */
export function createImapUser(
  dovecot: DovecotInfo & { tls?: DovecotTls | null },
  name = `u${randomId(6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')}`,
): ImapUser {
  const user = `${name}@example.com`;
  const pass = `pw-${randomId(6)}`;
  // Dovecot re-reads a passwd-file when its mtime changes, at one-second resolution: two users
  // added within a second would leave the second unknown. Move the mtime past any earlier value.
  const before = Math.floor(statSync(dovecot.usersFile).mtimeMs / 1000);
  appendFileSync(dovecot.usersFile, `${user}:{PLAIN}${pass}::::::\n`);
  const m = Math.max(before, Math.floor(Date.now() / 1000)) + 1;
  utimesSync(dovecot.usersFile, m, m);
  return {
    host: dovecot.host,
    port: dovecot.port,
    user,
    pass,
    ...(dovecot.tls ? { ca: readFileSync(dovecot.tls.caFile, 'utf8') } : {}),
  };
}

export function imapClient(u: ImapUser): ImapFlow {
  return new ImapFlow({
    host: u.host,
    port: u.port,
    secure: false,
    auth: { user: u.user, pass: u.pass },
    logger: false,
    ...(u.ca ? { doSTARTTLS: true, tls: { ca: u.ca } } : {}),
  });
}

/** Appends raw messages to a mailbox (created if needed); returns their UIDs. */
export async function appendMessages(
  u: ImapUser,
  messages: Array<string | Buffer | { raw: string | Buffer; date: Date }>,
  mailbox = 'INBOX',
): Promise<number[]> {
  const client = imapClient(u);
  client.on('error', () => {});
  await client.connect();
  try {
    if (mailbox !== 'INBOX') {
      try {
        await client.mailboxCreate(mailbox);
      } catch {
        // already there
      }
    }
    const uids: number[] = [];
    for (const m of messages) {
      // A dated message gets that INTERNALDATE (when the server says it arrived).
      const res =
        typeof m === 'object' && 'date' in m
          ? await client.append(mailbox, m.raw, [], m.date)
          : await client.append(mailbox, m);
      if (res && typeof res === 'object' && 'uid' in res && typeof res.uid === 'number') uids.push(res.uid);
    }
    return uids;
  } finally {
    await client.logout().catch(() => {});
  }
}

/**
 * A new passwd-file user can fail to log in for a moment (Dovecot re-reads the file on its own
 * schedule): wait until a login works before anything relies on it.
 */
export async function waitForLogin(u: ImapUser): Promise<void> {
  for (let i = 0; ; i++) {
    const c = imapClient(u);
    c.on('error', () => {});
    try {
      await c.connect();
      await c.logout();
      return;
    } catch (err) {
      if (i > 40) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** createImapUser, then waitForLogin. */
export async function createLoginReadyUser(server: Parameters<typeof createImapUser>[0]): Promise<ImapUser> {
  const u = createImapUser(server);
  await waitForLogin(u);
  return u;
}
