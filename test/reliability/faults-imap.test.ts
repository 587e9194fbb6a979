/**
 * Dovecot stopped and started again under a running poller (mailroom's composition, poller role),
 * once while the poller waits in IDLE and once in the middle of fetching a big mailbox. "Stopped"
 * means every process of that Dovecot, as `systemctl stop` does (the harness's restart() alone
 * keeps the imap processes, and with them our session, alive). Ingest continues by itself after the
 * restart: nothing lost, nothing stored twice, no manual step.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import {
  appendMessages,
  binary,
  createLoginReadyUser,
  type ImapUser,
  type RunningDovecot,
  startDovecot,
  tempDir,
} from '../harness/index.ts';
import { dovecotPids, duplicates, fillInbox, integrity, sleep, until, writeConfig } from './crash-kit.ts';

const dovecotBin = binary('dovecot');
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

function messages(tag: string, from: number, n: number): string[] {
  return Array.from(
    { length: n },
    (_, k) =>
      `From: Buyer ${(from + k) % 7} <buyer${(from + k) % 7}@customer.example>\r\nTo: support@shop.example\r\n` +
      `Subject: ${tag} question ${from + k}\r\nMessage-ID: <${tag}-${from + k}@customer.example>\r\n` +
      `Date: Mon, 5 Jan 2026 10:00:00 +0000\r\n\r\nHello, where is order ${from + k}?\r\n`,
  );
}

/** Stops every process of the Dovecot (master and the imap sessions it spawned). */
async function stopHard(server: RunningDovecot): Promise<void> {
  const pids = dovecotPids(server.dir);
  expect(pids.length).toBeGreaterThan(1);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const alive = (pid: number) => {
    try {
      return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
    } catch {
      return false;
    }
  };
  await until('dovecot to exit', () => pids.every((p) => !alive(p)), 10_000, 20);
  // Nothing listens any more: connections are refused until the restart.
  const refused = await new Promise<boolean>((resolve) => {
    const s = net.connect(server.port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
  expect(refused).toBe(true);
}

async function rig(
  tag: string,
): Promise<{ server: RunningDovecot; user: ImapUser; app: App; dbFile: string }> {
  const server = await startDovecot(dovecotBin as string);
  cleanup.push(() => server.stop());
  const user = await createLoginReadyUser(server);
  const dir = tempDir(`mailroom-faults-imap-${tag}-`);
  const config = loadConfig({
    configPath: writeConfig(dir, {
      data_dir: './data',
      mail: { domain: 'shop.example', from: 'Shop <support@shop.example>' },
      imap: {
        batch_size: 100,
        accounts: [
          {
            id: 'shop',
            host: server.host,
            port: server.port,
            tls: 'none',
            user: user.user,
            password_env: 'FAULT_IMAP_PW',
            history: 'all',
            poll_interval_s: 3600,
          },
        ],
      },
    }),
    env: { FAULT_IMAP_PW: user.pass },
  });
  const app = await createApp({ config, logger: silentLogger() });
  cleanup.push(() => app.stop(5000));
  return { server, user, app, dbFile: path.join(dir, 'data', 'mailroom.sqlite') };
}

const stored = (app: App) =>
  (app.db.prepare("SELECT count(*) AS n FROM messages WHERE direction = 'in'").get() as { n: number }).n;

function expectExactlyOnce(app: App, tag: string, n: number): void {
  const ids = (
    app.db.prepare("SELECT message_id AS id FROM messages WHERE direction = 'in'").all() as Array<{
      id: string;
    }>
  ).map((r) => r.id);
  expect(duplicates(ids)).toEqual([]);
  expect(ids.sort()).toEqual(Array.from({ length: n }, (_, i) => `${tag}-${i}@customer.example`).sort());
  expect(app.db.prepare('SELECT count(*) AS n FROM ingest_uids').get()).toEqual({ n });
  const st = app.poller?.status()[0];
  expect(st?.reconnects, 'the poller reconnected by itself').toBeGreaterThan(0);
  // ...with its backoff (250 ms doubling, capped at 30 s): a few tries over an outage of seconds,
  // not a reconnect storm against a server that is down.
  expect(st?.reconnects, 'reconnect attempts while the server was down').toBeLessThanOrEqual(20);
  expect(st?.mailboxes[0]).toMatchObject({ serverMessages: n, ingested: n, uidGaps: [], lastError: null });
}

describe.skipIf(!dovecotBin)('Dovecot stopped and restarted under the poller', () => {
  it('during IDLE: reconnects, then new mail is ingested, nothing lost or doubled', {
    timeout: 60_000,
  }, async () => {
    const { server, user, app, dbFile } = await rig('idle');
    await fillInbox(server, user, messages('idle', 0, 20));
    await app.start(['poller']);
    await until(
      'first sync and IDLE',
      () => stored(app) === 20 && app.poller?.status()[0]?.state === 'idle',
      30_000,
      20,
    );

    await stopHard(server);
    await until('the poller to notice', () => app.poller?.status()[0]?.state !== 'idle', 10_000, 20);
    await sleep(1500); // down for a while: reconnects fail and back off
    await server.restart();
    await appendMessages(user, messages('idle', 20, 10));
    await until(
      `the new mail after the restart (stored ${stored(app)})`,
      () => stored(app) === 30 && app.poller?.status()[0]?.state === 'idle',
      30_000,
      20,
    );
    expectExactlyOnce(app, 'idle', 30);
    // And IDLE works again on the new session: one more message comes in without a poll.
    await appendMessages(user, messages('idle', 30, 1));
    await until('mail during the new IDLE', () => stored(app) === 31, 15_000, 20);
    await app.stop(5000);
    expect(integrity(dbFile)).toBe('ok');
  });

  it('mid-fetch of 600 messages: resumes from the checkpoint, every message once', {
    timeout: 90_000,
  }, async () => {
    const { server, user, app, dbFile } = await rig('fetch');
    const n = 600;
    await fillInbox(server, user, messages('fetch', 0, n));
    await app.start(['poller']);
    await until('the fetch to be under way', () => stored(app) >= 150, 60_000, 5);
    expect(stored(app)).toBeLessThan(n);

    await stopHard(server);
    const atStop = stored(app);
    await sleep(1000);
    await server.restart();
    await until(
      `all ${n} stored (at ${stored(app)})`,
      () => stored(app) === n && app.poller?.status()[0]?.state === 'idle',
      60_000,
      20,
    );
    expect(atStop).toBeLessThan(n);
    expectExactlyOnce(app, 'fetch', n);
    await app.stop(5000);
    expect(integrity(dbFile)).toBe('ok');
  });
});
