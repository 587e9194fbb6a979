import { ImapFlow } from 'imapflow';
import type { ImapAccountConfig } from '../config/index.ts';
import { type Clock, errorMessage, type Logger } from '../lib/index.ts';
import type { Db } from '../store/index.ts';
import { syncMailbox } from './imap-sync.ts';
import type { IngestPipeline } from './pipeline.ts';
import { allMailboxStatus, type MailboxStatus, recordError } from './status.ts';

export interface ImapCredentials {
  password?: string;
  accessToken?: string;
}

export interface ImapPollerDeps {
  accounts: ImapAccountConfig[];
  /** Per account id; a function is called before every connect (refresh OAuth2 tokens there). */
  credentials: Record<string, ImapCredentials> | ((accountId: string) => Promise<ImapCredentials>);
  db: Db;
  pipeline: IngestPipeline;
  clock: Clock;
  logger: Logger;
  batchSize?: number;
  maxMessageBytes?: number;
  /** Reconnect backoff: min(maxMs, baseMs * 2^n) * random(0.5..1). */
  backoff?: { baseMs: number; maxMs: number };
}

export type AccountState = 'connecting' | 'syncing' | 'idle' | 'backoff' | 'stopped';

export interface AccountStatus {
  account: string;
  state: AccountState;
  lastSyncAt: number | null;
  lastError: string | null;
  reconnects: number;
  mailboxes: MailboxStatus[];
}

export interface ImapPoller {
  start(): void;
  stop(): Promise<void>;
  status(): AccountStatus[];
  /** Asks every account to sync now (tests, admin "check now"). */
  syncNow(): void;
}

interface Runner {
  account: ImapAccountConfig;
  state: AccountState;
  lastSyncAt: number | null;
  lastError: string | null;
  reconnects: number;
  /** Consecutive failed sessions: the backoff exponent, reset by a completed sync. */
  failures: number;
  client: ImapFlow | null;
  wake: (() => void) | null;
  done: Promise<void> | null;
}

/**
 * One supervisor per account: new ImapFlow per connection (instances are single-use), sync every
 * mailbox, then wait in IDLE on the first one (or poll where IDLE is missing) until new mail, the
 * poll timer, a drop or stop. Any error closes the connection and the loop reconnects after a
 * capped, jittered backoff, so a broken account only ever delays itself.
 */
export function createImapPoller(deps: ImapPollerDeps): ImapPoller {
  const log = deps.logger.child({ component: 'imap' });
  const backoff = deps.backoff ?? { baseMs: 250, maxMs: 30_000 };
  let running = false;
  const runners: Runner[] = deps.accounts.map((account) => ({
    account,
    state: 'stopped',
    lastSyncAt: null,
    lastError: null,
    reconnects: 0,
    failures: 0,
    client: null,
    wake: null,
    done: null,
  }));

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
    const c = await creds(a.id);
    const client = new ImapFlow({
      host: a.host,
      port: a.port,
      secure: a.tls === 'implicit',
      doSTARTTLS: a.tls === 'starttls' ? true : a.tls === 'none' ? false : undefined,
      auth: c.accessToken
        ? { user: a.user, accessToken: c.accessToken }
        : { user: a.user, pass: c.password ?? '' },
      logger: false,
      maxIdleTime: 5 * 60_000,
      connectionTimeout: 30_000,
    });
    r.client = client;
    let closed = false;
    // Only this session's own client may wake the runner: a client that failed to connect emits
    // 'close' later, and waking then would cut the reconnect backoff short, so a server that is
    // down would be hammered with reconnects in a tight loop.
    let current = true;
    client.on('error', (err: unknown) => {
      r.lastError = errorMessage(err);
      log.warn({ account: a.id, err: errorMessage(err) }, 'IMAP connection error');
    });
    client.on('close', () => {
      closed = true;
      if (current) r.wake?.();
    });
    // EXISTS only triggers the same idempotent UID-window sync; it is never trusted as a count.
    client.on('exists', () => {
      if (current) r.wake?.();
    });
    r.state = 'connecting';
    try {
      await client.connect();
    } catch (err) {
      current = false;
      r.client = null;
      throw err;
    }
    try {
      while (running && !closed) {
        r.state = 'syncing';
        for (const mailbox of a.mailboxes) {
          if (!running || closed) break;
          try {
            await syncMailbox(client, a, mailbox, {
              db: deps.db,
              pipeline: deps.pipeline,
              clock: deps.clock,
              logger: log,
              batchSize: deps.batchSize ?? 200,
              maxMessageBytes: deps.maxMessageBytes ?? 25 * 1024 * 1024,
              stopping: () => !running || closed,
            });
          } catch (err) {
            recordError(deps.db, { account: a.id, mailbox }, errorMessage(err), deps.clock.now());
            throw err;
          }
        }
        r.lastSyncAt = deps.clock.now();
        r.lastError = null;
        r.failures = 0;
        if (!running || closed) break;
        // Select the first mailbox and let imapflow IDLE on it (NOOP polling where IDLE is missing).
        const lock = await client.getMailboxLock(a.mailboxes[0] ?? 'INBOX', {
          readOnly: a.after_ingest === 'leave',
        });
        lock.release();
        // Start IDLE now rather than after imapflow's 15 s auto-IDLE delay; the next command
        // (the sync that EXISTS triggers) ends it.
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

  async function supervise(r: Runner): Promise<void> {
    while (running) {
      try {
        await session(r);
        if (!running) break;
        r.lastError ??= 'connection closed by server';
      } catch (err) {
        r.lastError = errorMessage(err);
        log.warn(
          { account: r.account.id, err: r.lastError, failures: r.failures },
          'IMAP session failed; reconnecting',
        );
      }
      if (!running) break;
      r.state = 'backoff';
      r.reconnects++;
      const ms = Math.min(backoff.maxMs, backoff.baseMs * 2 ** r.failures) * (0.5 + Math.random() / 2);
      r.failures = Math.min(r.failures + 1, 20);
      await sleep(r, ms);
    }
    r.state = 'stopped';
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
      return runners.map((r) => ({
        account: r.account.id,
        state: r.state,
        lastSyncAt: r.lastSyncAt,
        lastError: r.lastError,
        reconnects: r.reconnects,
        mailboxes: allMailboxStatus(deps.db, [r.account]),
      }));
    },
    syncNow() {
      for (const r of runners) if (r.state === 'idle') r.wake?.();
    },
  };
}
