// IMAP ingest throughput and memory, with mixed mail (plain, HTML, attachments, GB18030 / Big5 /
// UTF-8 Chinese; bench/corpus.ts) in a private Dovecot, taken in by mailroom's real path: createApp
// with only the 'poller' role and an account with a `history:` setting, i.e. the IMAP poller
// (imap-source / imap-sync) feeding the ingest pipeline (blob store, parse, classify, dedupe,
// thread, one transaction per message with rules, SLA clock, and the auto-acknowledgement the
// shipped rules ask for, queued). Baseline in the same run: imapflow FETCH of the same mailbox
// (UID windows of 1,000) and mailparser's simpleParser on each message, nothing stored.
//
// Every measured run, mailroom's and the baseline's, is its own child process
// (bench/ingest-child.ts) starting from an empty data dir, so its peak RSS (VmHWM) is its own. One
// unmeasured baseline run first builds Dovecot's index of the mailbox; mailroom and baseline runs
// then alternate.
//
// Size: the issue's 10,000 messages per run (5 runs of each, alternating), plus one run on a
// 100,000-message mailbox with `history: since ...`, which ingests its newest ~3,500 messages
// (poller and Dovecot see the whole mailbox), and the RSS sampled through every run (notes), to
// show RSS does not grow with mailbox size.
//
// Env: BENCH_SCALE=0.1 shrinks both mailboxes (300 and 10,000 messages) for quick development
// runs. BENCH_INGEST_MESSAGES=N sets the messages per measured run (default 10,000 x scale),
// BENCH_INGEST_LARGE=N the size of the large mailbox (default 100,000 x scale).
// BENCH_CPU_PROF=DIR writes a V8 CPU profile of every mailroom run to DIR.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImapUser } from '../../test/harness/imap.ts';
import { corpusMessage } from '../corpus.ts';
import type { ChildResult } from '../ingest-child.ts';
import type { SuiteResult } from '../lib.ts';
import { fillMaildir } from '../maildir.ts';
import { benchScale, median, scaled } from '../scale.ts';
import { createImapUser, imapClient, requireBinary, startDovecot, waitForLogin } from '../servers.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(here, '..', 'ingest-child.ts');

const RUNS = 5;
const envCount = (name: string) => {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
};
const RUN_MESSAGES = envCount('BENCH_INGEST_MESSAGES') ?? scaled(10_000, 100);
const LARGE = envCount('BENCH_INGEST_LARGE') ?? scaled(100_000, 1000);
/** About how many of the large mailbox's newest messages its run takes in. */
const LARGE_TAKE = Math.min(LARGE, scaled(3_000, 100));

/** The corpus is one message a minute from 2026-01-01; the file's mtime is its INTERNALDATE. */
const CORPUS_START = Date.UTC(2026, 0, 1);
const PER_DAY = 1440;
const receivedAt = (i: number) => new Date(CORPUS_START + i * 60_000);

const log = (s: string) => console.error(`bench: ingest: ${s}`);

function childEnv(u: ImapUser, expect: number, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // No MAILROOM_* from the caller's shell: the run's own mailroom.yaml is the whole configuration.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MAILROOM_')));
  return {
    ...env,
    BENCH_IMAP_HOST: u.host,
    BENCH_IMAP_PORT: String(u.port),
    BENCH_IMAP_USER: u.user,
    BENCH_IMAP_PASSWORD: u.pass,
    BENCH_EXPECT: String(expect),
    ...extra,
  };
}

function runChild(mode: 'mailroom' | 'baseline', env: NodeJS.ProcessEnv): Promise<ChildResult> {
  const prof = process.env.BENCH_CPU_PROF;
  const args = [
    ...(prof && mode === 'mailroom' ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(prof)] : []),
    '--import',
    'tsx',
    CHILD,
    mode,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30 * 60_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as ChildResult);
      else reject(new Error(`${mode} run failed (${signal ?? code}): ${err.trim().slice(-2000)}`));
    });
  });
}

/** One mailroom run: a fresh data dir whose mailroom.yaml has the benchmark account. */
async function mailroomRun(u: ImapUser, expect: number, history: string): Promise<ChildResult> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-bench-ingest-'));
  try {
    writeFileSync(
      path.join(dataDir, 'mailroom.yaml'),
      [
        'data_dir: .',
        'log_level: silent',
        'imap:',
        '  accounts:',
        '    - id: bench',
        `      host: ${u.host}`,
        `      port: ${u.port}`,
        '      tls: none',
        `      user: ${u.user}`,
        '      password_env: BENCH_IMAP_PASSWORD',
        `      history: ${history}`,
        '      poll_interval_s: 3600',
        '',
      ].join('\n'),
    );
    return await runChild('mailroom', childEnv(u, expect, { BENCH_DATA_DIR: dataDir }));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function mailbox(dovecot: Awaited<ReturnType<typeof startDovecot>>, name: string, count: number) {
  const u = createImapUser(dovecot, name);
  const t0 = Date.now();
  const bytes = fillMaildir(dovecot, u.user, count, corpusMessage, receivedAt);
  log(
    `${count} messages (${(bytes / 2 ** 20).toFixed(0)} MB) written to ${u.user}'s maildir in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  await waitForLogin(u);
  return { u, bytes };
}

/** SEARCH SINCE on the mailbox: builds Dovecot's index of it and counts what `since` selects. */
async function countSince(u: ImapUser, since: Date): Promise<number> {
  const c = imapClient(u);
  c.on('error', () => {});
  await c.connect();
  try {
    const lock = await c.getMailboxLock('INBOX', { readOnly: true });
    try {
      const uids = await c.search({ since }, { uid: true });
      return Array.isArray(uids) ? uids.length : 0;
    } finally {
      lock.release();
    }
  } finally {
    await c.logout().catch(() => {});
  }
}

const mb = (n: number) => `${n.toFixed(0)} MB`;

/** Linux clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux port). */
const TICKS_PER_S = 100;

/** utime, stime, cutime, cstime and ppid of a process from /proc/<pid>/stat, or null when gone. */
function procTimes(pid: number | string): { ppid: number; own: number; reaped: number } | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Fields after the ")" that closes the command name: state ppid ... utime(12) stime cutime cstime.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const n = (i: number) => Number(f[i]);
  return { ppid: n(1), own: n(11) + n(12), reaped: n(13) + n(14) };
}

/**
 * CPU seconds used so far by Dovecot: the master, every live service process (its children: imap,
 * imap-login, auth, ...) and the ones that ended (reaped into the master's cutime/cstime).
 */
function dovecotCpuSeconds(masterPid: number | null): number {
  if (masterPid === null) return 0;
  const master = procTimes(masterPid);
  if (!master) return 0;
  let ticks = master.own + master.reaped;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = procTimes(name);
    if (p && p.ppid === masterPid) ticks += p.own + p.reaped;
  }
  return ticks / TICKS_PER_S;
}

export async function run(): Promise<SuiteResult> {
  const dovecot = await startDovecot(requireBinary('dovecot'));
  try {
    const small = await mailbox(dovecot, 'bench', RUN_MESSAGES);
    const t0 = Date.now();
    // Unmeasured: Dovecot builds its index and cache of the new mailbox on the first FETCH.
    await runChild('baseline', childEnv(small.u, RUN_MESSAGES));
    log(`warm-up fetch of the mailbox took ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const ours: ChildResult[] = [];
    const base: ChildResult[] = [];
    // Dovecot's CPU per message during each run: the other half of the machine's work.
    const dovecotMs = { ours: [] as number[], base: [] as number[] };
    const measured = async (into: number[], run: () => Promise<ChildResult>) => {
      const before = dovecotCpuSeconds(dovecot.pid);
      const result = await run();
      into.push(((dovecotCpuSeconds(dovecot.pid) - before) * 1000) / result.messages);
      return result;
    };
    for (let r = 0; r < RUNS; r++) {
      ours.push(await measured(dovecotMs.ours, () => mailroomRun(small.u, RUN_MESSAGES, 'all')));
      base.push(await measured(dovecotMs.base, () => runChild('baseline', childEnv(small.u, RUN_MESSAGES))));
      const o = ours.at(-1) as ChildResult;
      const b = base.at(-1) as ChildResult;
      log(
        `run ${r + 1}/${RUNS}: mailroom ${o.rate.toFixed(0)} msg/s (peak ${mb(o.peakRssMb)}), baseline ${b.rate.toFixed(0)} msg/s (peak ${mb(b.peakRssMb)})`,
      );
    }

    // The large mailbox: mailroom connects with history "since" the day that leaves about
    // LARGE_TAKE of the newest mail to take in.
    const large = await mailbox(dovecot, 'bench-large', LARGE);
    const sinceDay = Math.max(0, Math.floor((LARGE - LARGE_TAKE) / PER_DAY));
    const since = new Date(CORPUS_START + sinceDay * 86_400_000);
    const t1 = Date.now();
    const largeExpect = await countSince(large.u, since);
    log(
      `Dovecot indexed ${LARGE} messages in ${((Date.now() - t1) / 1000).toFixed(1)} s; ${largeExpect} since ${since.toISOString().slice(0, 10)}`,
    );
    const big = await mailroomRun(large.u, largeExpect, `since ${since.toISOString().slice(0, 10)}`);
    log(`${LARGE}-message mailbox: mailroom ${big.rate.toFixed(0)} msg/s, peak ${mb(big.peakRssMb)}`);

    const n = RUN_MESSAGES.toLocaleString('en-US');
    const largeN = LARGE.toLocaleString('en-US');
    const cpuPerMsg = (rs: ChildResult[]) => median(rs.map((r) => (r.cpuSeconds * 1000) / r.messages));
    const dovecotPerMsg = { ours: median(dovecotMs.ours), base: median(dovecotMs.base) };
    const cores = os.cpus().length;
    const targetRate = 0.7 * median(base.map((b) => b.rate));
    const budgetMs = (cores * 1000) / targetRate;
    const baseTotalMs = cpuPerMsg(base) + dovecotPerMsg.base;
    const oursTotalMs = cpuPerMsg(ours) + dovecotPerMsg.ours;
    const growth = ours
      .map((o) => (o.rssAt ?? []).map((p) => `${p.messages}: ${mb(p.rssMb)}`).join(', '))
      .slice(0, 2);
    const scale = benchScale();
    return {
      name: 'ingest',
      figures: [
        {
          name: `IMAP ingest, ${n} mixed messages`,
          unit: 'msg/s',
          samples: ours.map((o) => o.rate),
          baselineSamples: base.map((b) => b.rate),
          target: '>= 70% of baseline',
        },
        {
          name: `peak RSS, ingest of ${n} messages`,
          unit: 'MB',
          better: 'lower',
          samples: ours.map((o) => o.peakRssMb),
          baselineSamples: base.map((b) => b.peakRssMb),
        },
        {
          name: `IMAP ingest, newest ${largeExpect.toLocaleString('en-US')} of a ${largeN}-message mailbox (1 run)`,
          unit: 'msg/s',
          samples: [big.rate],
        },
        {
          name: `peak RSS, ${largeN}-message mailbox (1 run)`,
          unit: 'MB',
          better: 'lower',
          samples: [big.peakRssMb],
          target: `about the ${n}-message figure (no growth with mailbox size)`,
        },
      ],
      notes: [
        ...(scale !== 1 ? [`BENCH_SCALE=${scale}: reduced mailboxes, not comparable`] : []),
        `mailbox: bench/corpus.ts messages 0..${RUN_MESSAGES - 1} (${mb(small.bytes / 2 ** 20)}), written as maildir files into a private Dovecot on 127.0.0.1 (plaintext IMAP); ${RUN_MESSAGES} messages per run`,
        `mailroom: createApp with role 'poller', account history: all, batch_size 200, a fresh data dir per run; timed from starting the poller to the end of its first sync; ${ours[0]?.conversations ?? 0} conversations and ${ours[0]?.queued ?? 0} queued acknowledgements (the shipped rules acknowledge a sender at most once per 24 h; the corpus has 5,000 senders) from ${RUN_MESSAGES} messages`,
        'baseline: imapflow FETCH (UID windows of 1,000) + simpleParser per message, nothing stored',
        `CPU per message (median, user+sys of the process): mailroom ${cpuPerMsg(ours).toFixed(2)} ms, baseline ${cpuPerMsg(base).toFixed(2)} ms`,
        `Dovecot CPU per message (median, master and service processes): ${dovecotPerMsg.ours.toFixed(2)} ms during mailroom runs, ${dovecotPerMsg.base.toFixed(2)} ms during baseline runs`,
        `CPU budget: at the target (70% of the baseline median, ${targetRate.toFixed(0)} msg/s) this ${cores}-core machine has at most ${budgetMs.toFixed(2)} ms of CPU per message for mailroom and Dovecot together; fetch + parse alone (the baseline process) and Dovecot take ${baseTotalMs.toFixed(2)} ms of it, leaving ${(budgetMs - baseTotalMs).toFixed(2)} ms for storing, threading, classifying and keeping the raw copy even if both cores were kept busy all the time; mailroom with Dovecot uses ${oursTotalMs.toFixed(2)} ms`,
        `below target: where mailroom's CPU goes (bench corpus through the pipeline without IMAP, --cpu-prof and /proc/self/task): on the JS thread mailparser ~24%, SQLite ~22% (18 statements a message, 0.24 ms: message, conversation, SLA clock and events, customer, rules decision, checkpoint; commits in batches of 50), the blob write (hash, gzip, temp file, rename) ~17%, GC ~8%; beside it ~0.26 ms a message on V8's GC threads and ~0.14 ms on libuv's pool (gzip, file writes). Parsing on a worker thread was tried: +6% msg/s for +80 MB peak RSS, since both cores are already busy; not adopted`,
        `each run is a child process; peak RSS is its VmHWM, which includes starting Node, tsx and the modules (${mb(ours[0]?.startRssMb ?? 0)} before mailroom starts polling, ${mb(base[0]?.startRssMb ?? 0)} for the baseline)`,
        `RSS while ingesting (messages stored: RSS), first runs: ${growth.join(' | ')}`,
        `RSS while ingesting from the large mailbox: ${(big.rssAt ?? []).map((p) => `${p.messages}: ${mb(p.rssMb)}`).join(', ')}`,
        `large mailbox: ${largeN} messages (${mb(large.bytes / 2 ** 20)}), history "since ${since.toISOString().slice(0, 10)}" takes in the newest ${largeExpect}; one run only (time budget); peak ${mb(big.peakRssMb)} vs ${mb(median(ours.map((o) => o.peakRssMb)))} median with the ${n}-message mailbox`,
      ],
    };
  } finally {
    await dovecot.stop();
  }
}
