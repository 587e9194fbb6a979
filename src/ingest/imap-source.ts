import { readFileSync } from 'node:fs';
import type { ImapFlow } from 'imapflow';
import type { ImapAccountConfig } from '../config/index.ts';
import { type Clock, errorMessage, type Logger } from '../lib/index.ts';
import type { Db } from '../store/index.ts';
import { syncMailbox } from './imap-sync.ts';
import type { IngestPipeline } from './pipeline.ts';
import { allMailboxStatus, type MailboxStatus, recordError } from './status.ts';

/**
 * imapflow is loaded by the first connection, not with this module: a process that never polls
 * (workers, web, the CLI) does not carry it (~7 MB of RSS).
 */
let imapflow: Promise<typeof import('imapflow')> | null = null;
const loadImapflow = () => {
  imapflow ??= import('imapflow');
  return imapflow;
};

export interface ImapCredentials {
  password?: string;
  accessToken?: string;
}

export interface ImapPollerDeps {
  accounts: ImapAccountConfig[];
  /**
   * Per account id; a function is called before every connect of every watched mailbox (refresh
   * OAuth2 tokens there: imapflow has no refresh hook, a token is only read at login).
   */
  credentials: Record<string, ImapCredentials> | ((accountId: string) => Promise<ImapCredentials>);
  db: Db;
  pipeline: IngestPipeline;
  clock: Clock;
  logger: Logger;
  batchSize?: number;
  maxMessageBytes?: number;
  /**
   * Reconnect backoff: min(maxMs, baseMs * 2^n) * random(0.5..1). Refused credentials are not a
   * glitch: they wait min(authMaxMs, authBaseMs * 2^n) * random(0.5..1) instead (defaults 90 s and
   * 10 min: the fifth refused login of an account comes more than 10 min after the first), so a
   * wrong password or a dead token does not trip fail2ban-style limits (commonly 5 failed logins
   * in 10 min), which would lock this host out of every account on that server.
   */
  backoff?: { baseMs: number; maxMs: number; authBaseMs?: number; authMaxMs?: number };
}

export type AccountState = 'connecting' | 'syncing' | 'idle' | 'backoff' | 'stopped';

/** The live state of the one connection that watches one mailbox of an account. */
export interface ConnectionStatus {
  mailbox: string;
  state: AccountState;
  /** How new mail is noticed between syncs: IDLE push, or polling where the server has no IDLE. */
  mode: 'idle' | 'poll' | null;
  lastSyncAt: number | null;
  lastError: string | null;
  reconnects: number;
}

export interface AccountStatus {
  account: string;
  /** `idle` only when every mailbox is; otherwise the least settled state among them. */
  state: AccountState;
  /** The oldest last sync over the account's mailboxes (null until every one has synced). */
  lastSyncAt: number | null;
  /** The error of each failing mailbox ("Mailbox: error" when they differ), or null. */
  lastError: string | null;
  /** Reconnects over all of the account's connections. */
  reconnects: number;
  mailboxes: MailboxStatus[];
  connections: ConnectionStatus[];
}

export interface ImapPoller {
  start(): void;
  stop(): Promise<void>;
  status(): AccountStatus[];
  /** Asks every connection to sync now (tests, admin "check now"). */
  syncNow(): void;
}

/** One supervised connection: one account, one mailbox. */
interface Runner {
  account: ImapAccountConfig;
  mailbox: string;
  state: AccountState;
  mode: 'idle' | 'poll' | null;
  lastSyncAt: number | null;
  lastError: string | null;
  reconnects: number;
  /** Consecutive failed sessions: the backoff exponent, reset by a completed sync. */
  failures: number;
  /** New mail was announced while a sync ran: sync again before waiting. */
  pending: boolean;
  client: ImapFlow | null;
  wake: (() => void) | null;
  done: Promise<void> | null;
}

/**
 * Per account: while its credentials are refused, only one of its connections (the prober) tries
 * to log in; the others wait for it instead of multiplying failed logins by the mailbox count.
 */
interface LoginGate {
  prober: Runner | null;
  /** Consecutive refused logins: the auth backoff exponent. */
  failures: number;
  error: string | null;
}

/** Least settled first: an account shows the state of its least settled connection. */
const STATE_ORDER: AccountState[] = ['backoff', 'connecting', 'syncing', 'idle', 'stopped'];

/** Node's codes for a server certificate it will not trust (chain, expiry, host name). */
const CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A session failure whose message is already written for last_error. */
class SessionError extends Error {
  constructor(
    message: string,
    readonly refused = false,
  ) {
    super(message);
  }
}

/**
 * What goes into last_error: imapflow's own message for a refused login is only "Command
 * failed", and a TLS refusal does not say which server or what to do about it.
 */
export function describeImapError(err: unknown, a: ImapAccountConfig, withToken: boolean): string {
  const e = (err ?? {}) as {
    code?: unknown;
    authenticationFailed?: boolean;
    responseText?: unknown;
    serverResponseCode?: unknown;
  };
  const code = typeof e.code === 'string' ? e.code : '';
  if (e.authenticationFailed) {
    const said =
      typeof e.responseText === 'string' && e.responseText
        ? `; server said: ${typeof e.serverResponseCode === 'string' ? `[${e.serverResponseCode}] ` : ''}${e.responseText}`
        : '';
    return withToken
      ? `authentication failed for ${a.user} with an OAuth2 access token (XOAUTH2/OAUTHBEARER)${said} — the token is wrong, expired or revoked`
      : `authentication failed for ${a.user} with a password${said}`;
  }
  if (CERT_CODES.has(code)) {
    const hint =
      code === 'ERR_TLS_CERT_ALTNAME_INVALID'
        ? `the certificate is not issued for "${a.host}"`
        : a.ca_file
          ? `it is not issued by the CA in ca_file ${a.ca_file}`
          : 'set ca_file to the CA that issued it if the server uses a private CA';
    return `TLS certificate of ${a.host}:${a.port} refused (${errorMessage(err)}, ${code}): ${hint}`;
  }
  if (a.tls === 'starttls' && /STARTTLS/.test(errorMessage(err)))
    return `${errorMessage(err)}: the account has tls: starttls, so it never logs in without TLS`;
  // A refused command's message is "Command failed": the server's own words say why.
  const text = typeof e.responseText === 'string' ? e.responseText : '';
  const msg = text && !errorMessage(err).includes(text) ? `${errorMessage(err)}: ${text}` : errorMessage(err);
  return code && !msg.includes(code) ? `${msg} (${code})` : msg;
}

/**
 * One supervisor per watched mailbox of every account: IMAP IDLE (RFC 2177) only reports on the
 * selected mailbox, and NOTIFY (RFC 5465), which could watch several on one connection, is rarely
 * offered. So an account with N mailboxes holds N connections (servers cap connections per user,
 * Dovecot at 10 per user and IP by default, Gmail at 15). Each supervisor builds a new ImapFlow
 * per connection (instances are single-use), syncs its mailbox in full, then waits in IDLE (or
 * imapflow's NOOP polling where IDLE is missing) until new mail, the poll timer, a drop or stop.
 * Any error closes that connection and it reconnects after its own capped, jittered backoff, so a
 * broken account or mailbox only ever delays itself.
 */
export function createImapPoller(deps: ImapPollerDeps): ImapPoller {
  const log = deps.logger.child({ component: 'imap' });
  const backoff = { baseMs: 250, maxMs: 30_000, authBaseMs: 90_000, authMaxMs: 600_000, ...deps.backoff };
  const gates = new Map<string, LoginGate>(
    deps.accounts.map((a) => [a.id, { prober: null, failures: 0, error: null }]),
  );
  const gateOf = (r: Runner) => gates.get(r.account.id) as LoginGate;
  let running = false;
  const runners: Runner[] = deps.accounts.flatMap((account) =>
    account.mailboxes.map((mailbox) => ({
      account,
      mailbox,
      state: 'stopped' as const,
      mode: null,
      lastSyncAt: null,
      lastError: null,
      reconnects: 0,
      failures: 0,
      pending: false,
      client: null,
      wake: null,
      done: null,
    })),
  );

  const creds = async (id: string): Promise<ImapCredentials> =>
    typeof deps.credentials === 'function' ? deps.credentials(id) : (deps.credentials[id] ?? {});

  const sleep = (r: Runner, ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        r.wake = null;
        resolve();
      }
      r.wake = done;
    });

  async function session(r: Runner): Promise<void> {
    const a = r.account;
    const mlog = log.child({ account: a.id, mailbox: r.mailbox });
    r.state = 'connecting';
    let c: ImapCredentials;
    let ca: Buffer | undefined;
    try {
      c = await creds(a.id);
    } catch (err) {
      throw new SessionError(`could not get the credentials of account ${a.id}: ${errorMessage(err)}`);
    }
    try {
      ca = a.ca_file ? readFileSync(a.ca_file) : undefined;
    } catch (err) {
      throw new SessionError(`cannot read ca_file ${a.ca_file}: ${errorMessage(err)}`);
    }
    const withToken = Boolean(c.accessToken);
    const { ImapFlow } = await loadImapflow();
    const client = new ImapFlow({
      host: a.host,
      port: a.port,
      secure: a.tls === 'implicit',
      // Required, not opportunistic: without it a stripped STARTTLS capability (it arrives in
      // cleartext) would send the credentials unencrypted.
      doSTARTTLS: a.tls === 'starttls' ? true : a.tls === 'none' ? false : undefined,
      // Trust only this CA for this account; Node still checks the chain and the host name.
      tls: ca ? { ca } : undefined,
      auth: c.accessToken
        ? { user: a.user, accessToken: c.accessToken }
        : { user: a.user, pass: c.password ?? '' },
      logger: false,
      // Restart IDLE every 5 min (silent dead connections); without IDLE imapflow sends NOOP at
      // min(this, 2 min), and our own timer below runs a full sync every poll_interval_s.
      maxIdleTime: Math.min(5 * 60_000, a.poll_interval_s * 1000),
      connectionTimeout: 30_000,
    });
    r.client = client;
    let closed = false;
    // Only this session's own client may wake the runner: a client that failed to connect emits
    // 'close' later, and waking then would cut the reconnect backoff short, so a server that is
    // down would be hammered with reconnects in a tight loop.
    let current = true;
    client.on('error', (err: unknown) => {
      r.lastError = describeImapError(err, a, withToken);
      mlog.warn({ err: r.lastError }, 'IMAP connection error');
    });
    client.on('close', () => {
      closed = true;
      if (current) r.wake?.();
    });
    // EXISTS only triggers the same idempotent UID-window sync; it is never trusted as a count.
    // One mailbox per connection, so it always concerns this runner's mailbox.
    client.on('exists', () => {
      if (!current) return;
      r.pending = true;
      r.wake?.();
    });
    try {
      await client.connect();
    } catch (err) {
      current = false;
      r.client = null;
      throw new SessionError(
        describeImapError(err, a, withToken),
        Boolean((err as { authenticationFailed?: boolean } | null)?.authenticationFailed),
      );
    }
    // Logged in: the account's credentials work again, its waiting connections may go.
    const gate = gateOf(r);
    if (gate.prober) {
      gate.prober = null;
      gate.failures = 0;
      gate.error = null;
      for (const o of runners) if (o.account === a && o !== r) o.wake?.();
    }
    r.mode = client.capabilities.has('IDLE') ? 'idle' : 'poll';
    try {
      while (running && !closed) {
        r.state = 'syncing';
        r.pending = false;
        await syncMailbox(client, a, r.mailbox, {
          db: deps.db,
          pipeline: deps.pipeline,
          clock: deps.clock,
          logger: log,
          batchSize: deps.batchSize ?? 200,
          maxMessageBytes: deps.maxMessageBytes ?? 25 * 1024 * 1024,
          stopping: () => !running || closed,
        });
        r.lastSyncAt = deps.clock.now();
        r.lastError = null;
        r.failures = 0;
        if (!running || closed) break;
        if (r.pending) continue; // mail announced during the sync
        // syncMailbox leaves the mailbox selected. Start IDLE now rather than after imapflow's
        // 15 s auto-IDLE delay; the next command (the sync that EXISTS triggers) ends it.
        client.idle().catch(() => {});
        r.state = 'idle';
        await sleep(r, a.poll_interval_s * 1000);
      }
    } finally {
      current = false;
      r.client = null;
      if (!closed) await client.logout().catch(() => client.close());
    }
  }

  /**
   * Records a connection's error for the health page. Never throws: the error may be the disk
   * being full, and the supervisor must live on to log it and reconnect once space returns.
   */
  const noteError = (key: { account: string; mailbox: string }, message: string) => {
    try {
      recordError(deps.db, key, message, deps.clock.now());
    } catch (err) {
      log.warn({ ...key, err: errorMessage(err) }, 'could not record the IMAP error in the database');
    }
  };

  async function supervise(r: Runner): Promise<void> {
    const key = { account: r.account.id, mailbox: r.mailbox };
    const gate = gateOf(r);
    while (running) {
      // Another connection of this account is finding out whether its credentials work again.
      while (running && gate.prober && gate.prober !== r) {
        r.state = 'backoff';
        if (r.lastError !== gate.error && gate.error) {
          r.lastError = gate.error;
          noteError(key, gate.error);
        }
        await sleep(r, 60_000);
      }
      if (!running) break;
      let refused = false;
      try {
        await session(r);
        if (!running) break;
        r.lastError ??= 'connection closed by server';
        noteError(key, r.lastError);
      } catch (err) {
        if (!running) break;
        r.lastError = err instanceof SessionError ? err.message : describeImapError(err, r.account, false);
        refused = err instanceof SessionError && err.refused;
        noteError(key, r.lastError);
        log.warn(
          { account: r.account.id, mailbox: r.mailbox, err: r.lastError, failures: r.failures },
          'IMAP session failed; reconnecting',
        );
      }
      if (!running) break;
      r.state = 'backoff';
      r.reconnects++;
      const jitter = 0.5 + Math.random() / 2;
      let ms: number;
      if (refused) {
        gate.prober ??= r;
        gate.error = r.lastError;
        if (gate.prober !== r) continue; // wait for the prober above
        ms = Math.min(backoff.authMaxMs, backoff.authBaseMs * 2 ** gate.failures) * jitter;
        gate.failures = Math.min(gate.failures + 1, 20);
      } else {
        ms = Math.min(backoff.maxMs, backoff.baseMs * 2 ** r.failures) * jitter;
        r.failures = Math.min(r.failures + 1, 20);
      }
      await sleep(r, ms);
    }
    r.state = 'stopped';
  }

  function accountStatus(account: ImapAccountConfig): AccountStatus {
    const mine = runners.filter((r) => r.account === account);
    const errors = mine.filter((r) => r.lastError !== null);
    const distinct = new Set(errors.map((r) => r.lastError));
    const syncs = mine.map((r) => r.lastSyncAt);
    return {
      account: account.id,
      state: STATE_ORDER.find((s) => mine.some((r) => r.state === s)) ?? 'stopped',
      lastSyncAt: syncs.some((t) => t === null) ? null : Math.min(...(syncs as number[])),
      lastError:
        distinct.size === 0
          ? null
          : distinct.size === 1
            ? (errors[0]?.lastError ?? null)
            : errors.map((r) => `${r.mailbox}: ${r.lastError}`).join('; '),
      reconnects: mine.reduce((n, r) => n + r.reconnects, 0),
      mailboxes: allMailboxStatus(deps.db, [account]),
      connections: mine.map((r) => ({
        mailbox: r.mailbox,
        state: r.state,
        mode: r.mode,
        lastSyncAt: r.lastSyncAt,
        lastError: r.lastError,
        reconnects: r.reconnects,
      })),
    };
  }

  return {
    start() {
      if (running) return;
      running = true;
      for (const r of runners) r.done = supervise(r);
    },
    async stop() {
      running = false;
      for (const r of runners) {
        r.wake?.();
        r.client?.logout().catch(() => r.client?.close());
      }
      await Promise.all(runners.map((r) => r.done));
    },
    status() {
      return deps.accounts.map(accountStatus);
    },
    syncNow() {
      for (const r of runners) if (r.state === 'idle') r.wake?.();
    },
  };
}
