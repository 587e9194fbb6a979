/**
 * Shared pieces of the crash and fault tests: a seeded PRNG for kill points, child processes that
 * run the real product code, SQLite checks that are safe to run beside (or after) a killed writer,
 * and a mailroom.yaml writer.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  chownSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { type DovecotInfo, type ImapUser, imapClient } from '../harness/index.ts';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
export const MAILROOM_BIN = path.join(ROOT, 'bin/mailroom.js');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A whole number from the environment, or the default. */
export function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got "${v}"`);
  return n;
}

/**
 * The seed for this file's kill points: MAILROOM_CRASH_SEED to replay a failure, else a fresh one.
 * Printed so a red run can be replayed exactly (the kill points; timing still varies).
 */
export function crashSeed(label: string): number {
  const fromEnv = process.env.MAILROOM_CRASH_SEED;
  const seed = fromEnv ? Number(fromEnv) >>> 0 : Math.floor(Math.random() * 2 ** 32) >>> 0;
  console.log(`[${label}] kill-point seed ${seed} (replay with MAILROOM_CRASH_SEED=${seed})`);
  return seed;
}

/** mulberry32: a small seeded PRNG, numbers in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` sorted kill points as fractions of progress in [lo, hi). */
export function killFractions(rand: () => number, n: number, lo = 0.02, hi = 0.97): number[] {
  return Array.from({ length: n }, () => lo + rand() * (hi - lo)).sort((a, b) => a - b);
}

export async function until(
  what: string,
  cond: () => boolean,
  timeoutMs = 30_000,
  stepMs = 5,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

export interface Child {
  proc: ChildProcess;
  /** Exit code, or the signal name when killed. */
  exited: Promise<number | string>;
  /** Everything the child wrote to stdout and stderr (the tail, for failure messages). */
  output(): string;
  alive(): boolean;
}

/** Runs `node --import tsx <script> ...args` (or bin/mailroom.js, which loads tsx itself). */
export function spawnNode(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const nodeArgs = script.endsWith('.ts') ? ['--import', 'tsx', script, ...args] : [script, ...args];
  const proc = spawn(process.execPath, nodeArgs, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-64 * 1024);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  let done = false;
  const exited = new Promise<number | string>((resolve) =>
    proc.once('exit', (code, signal) => {
      done = true;
      resolve(signal ?? code ?? -1);
    }),
  );
  return { proc, exited, output: () => out, alive: () => !done };
}

/** Whether the child has `file` open (it got as far as opening the database). */
export function hasOpen(c: Child, file: string): boolean {
  const pid = c.proc.pid;
  if (!pid || !c.alive()) return false;
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === file;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/**
 * A kill plan: about one kill in ten lands early (a random 0-400 ms after the process opened the
 * database: migration, IMAP login or queueing, the first dispatch), the rest at sorted random
 * fractions of the work, as counts of `total`.
 */
export type KillPoint = { kind: 'early'; ms: number } | { kind: 'progress'; at: number };
export function killPlan(rand: () => number, kills: number, total: number): KillPoint[] {
  const early = Math.min(kills, Math.max(1, Math.round(kills / 10)));
  return [
    ...Array.from({ length: early }, () => ({ kind: 'early' as const, ms: Math.floor(rand() * 400) })),
    ...killFractions(rand, kills - early).map((f) => ({
      kind: 'progress' as const,
      at: Math.ceil(f * total),
    })),
  ];
}

/** Waits for the kill point: the database opened (then ms more), or progress() reaching `at`. */
export async function reach(
  k: KillPoint,
  c: Child,
  dbFile: string,
  progress: () => number,
  what: string,
): Promise<void> {
  if (k.kind === 'early') {
    await until(
      `${what}: the database opened (${c.output().slice(-2000)})`,
      () => hasOpen(c, dbFile) || !c.alive(),
      60_000,
      2,
    );
    await sleep(k.ms);
  } else {
    await until(
      `${what}: ${k.at} done (${c.output().slice(-2000)})`,
      () => progress() >= k.at || !c.alive(),
      60_000,
      1,
    );
  }
}

export const label = (k: KillPoint) => (k.kind === 'early' ? `open+${k.ms}ms` : `>=${k.at}`);

export async function sigkill(c: Child): Promise<void> {
  if (c.alive()) c.proc.kill('SIGKILL');
  await c.exited;
}

/**
 * Opens the database file read-only, runs fn, closes it. Read-only, so closing it never checkpoints
 * the WAL: the next mailroom start finds the file exactly as the kill left it.
 */
export function withDb<T>(file: string, fn: (db: Database.Database) => T): T {
  const db = new Database(file, { fileMustExist: true, readonly: true });
  try {
    db.pragma('busy_timeout = 5000');
    return fn(db);
  } finally {
    db.close();
  }
}

/** PRAGMA integrity_check on the file; 'ok' when sound. Run right after a kill, before restart. */
export function integrity(file: string): string {
  return withDb(file, (db) =>
    (db.pragma('integrity_check') as Array<{ integrity_check: string }>)
      .map((r) => r.integrity_check)
      .join('; '),
  );
}

/**
 * A read-only view for polling progress while a child writes (WAL readers never block the writer).
 * Returns null until the file and the table exist.
 */
export function poller(file: string): { count(sql: string): number | null; close(): void } {
  let db: Database.Database | null = null;
  return {
    count(sql) {
      try {
        db ??= new Database(file, { fileMustExist: true, readonly: true });
        db.pragma('busy_timeout = 2000');
        return (db.prepare(sql).get() as { n: number }).n;
      } catch {
        return null; // not created yet, or the schema is still being migrated
      }
    },
    close() {
      db?.close();
      db = null;
    },
  };
}

/** Writes a mailroom.yaml and returns its path. */
export function writeConfig(dir: string, config: Record<string, unknown>): string {
  const file = path.join(dir, 'mailroom.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

/** The Message-ID header of a raw message. */
export function messageIdOf(raw: string): string {
  return /^Message-ID:\s*<([^>]+)>/im.exec(raw)?.[1] ?? '?';
}

/** How often each key occurs. */
export function tally(keys: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

export function duplicates(keys: string[]): string[] {
  return [...tally(keys)].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
}

/** Pino JSON lines a child wrote, parsed (other lines skipped). */
export function logLines(output: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by the 64 KiB tail
    }
  }
  return out;
}

/** PIDs of the processes of the Dovecot whose config lives in `dir` (master and its children). */
export function dovecotPids(dir: string): number[] {
  const procs: Array<{ pid: number; ppid: number; cmd: string }> = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      procs.push({ pid: Number(e), ppid, cmd });
    } catch {
      // gone meanwhile
    }
  }
  const master = procs.find((p) => p.cmd.includes(`${dir}/dovecot.conf`));
  if (!master) return [];
  const out = [master.pid];
  for (let i = 0; i < out.length; i++) for (const p of procs) if (p.ppid === out[i]) out.push(p.pid);
  return out;
}

/**
 * Puts messages straight into the user's INBOX maildir (harness Dovecot: ~/Maildir under
 * <dir>/mail/<user>), named so Dovecot, which numbers new maildir files in the order of the time
 * in their names, gives them UIDs 1..n in the order given. Much faster than APPEND, which fsyncs
 * every message (seconds per thousand on a busy disk). Checks the numbering over IMAP.
 */
export async function fillInbox(server: DovecotInfo, user: ImapUser, raws: string[]): Promise<void> {
  const maildir = path.join(server.dir, 'mail', user.user, 'Maildir');
  const owner = statSync(path.join(server.dir, 'mail'));
  for (const sub of ['', 'new', 'cur', 'tmp']) {
    mkdirSync(path.join(maildir, sub), { recursive: true });
    chownSync(path.join(server.dir, 'mail', user.user), owner.uid, owner.gid);
    chownSync(path.join(maildir, sub), owner.uid, owner.gid);
  }
  raws.forEach((raw, i) => {
    const file = path.join(maildir, 'new', `${1_700_000_000 + i}.M${i}P1.mailroom-test`);
    writeFileSync(file, raw.replace(/\r\n/g, '\n'));
    chownSync(file, owner.uid, owner.gid);
  });
  const c = imapClient(user);
  c.on('error', () => {});
  await c.connect();
  try {
    const lock = await c.getMailboxLock('INBOX');
    try {
      const ids: string[] = [];
      for await (const m of c.fetch('1:*', { uid: true, envelope: true }, { uid: true }))
        ids[m.uid - 1] = m.envelope?.messageId ?? '';
      const want = raws.map((r) => {
        const id = /^Message-ID:\s*(<[^>]+>)/im.exec(r)?.[1];
        return id ?? '';
      });
      if (ids.length !== raws.length || want.some((w, i) => w && w !== ids[i]))
        throw new Error(`Dovecot numbered the maildir files differently (${ids.length} of ${raws.length})`);
    } finally {
      lock.release();
    }
  } finally {
    await c.logout().catch(() => {});
  }
}
