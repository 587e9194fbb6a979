/**
 * Disk full on the data dir: `mailroom start` runs with its data dir (SQLite file, WAL, blobs) on
 * a small tmpfs of its own. Mid-run the tmpfs is filled to the last byte and new mail arrives. The
 * process must log a clear error, keep running, leave a database that passes integrity_check, and
 * take the mail in by itself once space returns (the tmpfs is grown, as an admin would). Nothing is
 * lost or stored twice.
 *
 * Needs root to mount the tmpfs (CI runs as root). Without it the test fails in CI and is skipped
 * loudly elsewhere: a mocked "disk full" would not show what SQLite and the blob store really do.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  appendMessages,
  createLoginReadyUser,
  dovecotInfo,
  freePort,
  inCI,
  startSmtpPeer,
  tempDir,
} from '../harness/index.ts';
import {
  type Child,
  duplicates,
  fillInbox,
  integrity,
  logLines,
  MAILROOM_BIN,
  poller,
  sigkill,
  sleep,
  spawnNode,
  until,
  withDb,
  writeConfig,
} from './crash-kit.ts';

function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(path.join(os.tmpdir(), 'mailroom-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** Fills the file system holding `dir` to the last byte; returns the bytes written. */
function fillUp(dir: string): number {
  const fd = openSync(path.join(dir, 'filler'), 'w');
  const block = Buffer.alloc(64 * 1024, 7);
  let written = 0;
  try {
    for (let size = block.length; size >= 1; ) {
      try {
        written += writeSync(fd, block, 0, size);
      } catch {
        size = Math.floor(size / 2); // ENOSPC: fill the last partial blocks too
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

function mail(tag: string, i: number): string {
  // Bodies that do not compress, so each message needs real room in the blob store.
  const body = Buffer.from(Array.from({ length: 12_000 }, (_, k) => (i * 7919 + k * 104729) % 251)).toString(
    'base64',
  );
  return (
    `From: Buyer ${i % 5} <buyer${i % 5}@customer.example>\r\nTo: support@shop.example\r\n` +
    `Subject: ${tag} question ${i}\r\nMessage-ID: <${tag}-${i}@customer.example>\r\n` +
    `Date: Mon, 5 Jan 2026 10:00:00 +0000\r\n\r\nHello ${i}\r\n${body.replace(/(.{76})/g, '$1\r\n')}\r\n`
  );
}

const dovecot = dovecotInfo();
const mountable = canMount();
if (!mountable && !inCI()) console.warn('\n!!! SKIPPING faults-disk: mounting a tmpfs needs root\n');

describe.skipIf(!dovecot || (!mountable && !inCI()))('disk full on the data dir', () => {
  it('logs a clear error, keeps the database sound, and takes the mail in once space returns', {
    timeout: 90_000,
  }, async () => {
    expect(mountable, 'mounting a tmpfs for the data dir (needs root)').toBe(true);
    const server = dovecot as NonNullable<typeof dovecot>;
    const user = await createLoginReadyUser(server);
    const dir = tempDir('mailroom-faults-disk-');
    const data = path.join(dir, 'data');
    mkdirSync(data);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', data]);
    cleanup.push(() => {
      try {
        execFileSync('umount', [data], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', data], { stdio: 'pipe' });
      }
    });
    const peer = await startSmtpPeer();
    cleanup.push(() => peer.close());
    const config = writeConfig(dir, {
      data_dir: './data',
      log_level: 'warn',
      mail: { domain: 'shop.example', from: 'Shop <support@shop.example>' },
      imap: {
        accounts: [
          {
            id: 'shop',
            host: server.host,
            port: server.port,
            tls: 'none',
            user: user.user,
            password_env: 'DISK_IMAP_PW',
            history: 'all',
            poll_interval_s: 3600,
          },
        ],
      },
      smtp: { host: peer.host, port: peer.port, timeout_s: 10 },
    });
    const dbFile = path.join(data, 'mailroom.sqlite');
    const stored = "SELECT count(*) AS n FROM messages WHERE direction = 'in'";
    const watch = poller(dbFile);
    cleanup.push(() => watch.close());

    await fillInbox(
      server,
      user,
      Array.from({ length: 10 }, (_, i) => mail('disk', i)),
    );
    const child: Child = spawnNode(MAILROOM_BIN, ['start', '--config', config], {
      DISK_IMAP_PW: user.pass,
      MAILROOM_PORT: String(await freePort()),
    });
    cleanup.push(() => sigkill(child));
    await until(
      `the first 10 stored (${child.output().slice(-1500)})`,
      () => watch.count(stored) === 10,
      30_000,
      20,
    );

    // The disk fills up; new mail arrives.
    const filled = fillUp(data);
    expect(filled).toBeGreaterThan(0);
    await appendMessages(
      user,
      Array.from({ length: 20 }, (_, i) => mail('disk', 10 + i)),
    );
    await until(
      'a disk-full error in the log',
      () =>
        logLines(child.output()).some(
          (l) =>
            Number(l.level) >= 40 &&
            /no space left on device|database or disk is full|ENOSPC|SQLITE_FULL/i.test(JSON.stringify(l)),
        ),
      30_000,
      50,
    );
    await sleep(500);
    expect(child.alive(), `mailroom died of the full disk: ${child.output().slice(-2000)}`).toBe(true);
    expect(integrity(dbFile), 'integrity_check while the disk is full').toBe('ok');
    const whileFull = watch.count(stored) ?? 0;
    expect(whileFull).toBeLessThan(30);
    const error = logLines(child.output()).find((l) =>
      /no space left on device|database or disk is full/i.test(JSON.stringify(l)),
    );
    const warnings = logLines(child.output()).filter((l) => Number(l.level) >= 40);
    console.log(
      `[faults-disk] ${warnings.length} warnings/errors while full, e.g. ${JSON.stringify(error).slice(0, 300)}; ` +
        `components: ${[...new Set(warnings.map((l) => `${l.component}:${l.msg}`))].join(' | ')}`,
    );

    // Space returns (the volume is grown): ingest resumes by itself.
    execFileSync('mount', ['-o', 'remount,size=64m', 'tmpfs', data]);
    await until(
      `all 30 stored after space returned (${watch.count(stored)}; ${child.output().slice(-1500)})`,
      () => watch.count(stored) === 30,
      45_000,
      50,
    );
    child.proc.kill('SIGTERM');
    expect(await child.exited, child.output().slice(-2000)).toBe(0);
    watch.close();
    expect(integrity(dbFile)).toBe('ok');
    const ids = withDb(dbFile, (db) =>
      (
        db.prepare("SELECT message_id AS id FROM messages WHERE direction = 'in'").all() as Array<{
          id: string;
        }>
      ).map((r) => r.id),
    );
    expect(duplicates(ids)).toEqual([]);
    expect(ids.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `disk-${i}@customer.example`).sort());
    expect(withDb(dbFile, (db) => db.prepare('SELECT count(*) AS n FROM ingest_uids').get())).toEqual({
      n: 30,
    });
    // No half-written blob was left behind by the failed writes.
    expect(readdirSync(path.join(data, 'blobs', 'tmp'))).toEqual([]);
  });
});
