/**
 * A newsletter campaign to 100,000 confirmed subscribers through mailroom's real lists path, with
 * the embedded queue: dispatcher (expand to campaign_sends rows, throttle, claim rows into batches,
 * one list-sends job per batch) -> campaign batch job (recheck consent, render
 * templates/en/newsletter per recipient with their name and signed unsubscribe link,
 * List-Unsubscribe + List-Unsubscribe-Post + List-Id headers, VERP sender, MIME) -> outbox row and
 * data_sent stage committed before the end of DATA -> pooled SMTP -> the peer.
 *
 * mailroom runs in child processes (bench/children/campaign-mailroom.ts), so peak RSS (VmHWM) is
 * mailroom's own. Every run is killed with SIGKILL when the peer has accepted 50% and restarted
 * on the same database: one 100,000-mail campaign gives every figure, so the mails go out once
 * per run rather than twice (an uninterrupted run plus a crashed one would not fit the budget).
 *   - mails/s of the uninterrupted first half (expansion of every recipient included), beside the
 *     send baseline (nodemailer pool: true, same connections) at the same count;
 *   - both with CAMPAIGN_CONNECTIONS pooled SMTP connections, not the default smtp.max_connections
 *     (2, sized for transactional mail): with 2, the raw pool itself is bound by round trips to the
 *     peer (~780 mails/s here; 4 connections ~1,150, 8 ~1,560), and a bulk sender sets the
 *     connections its relay allows (README, "Campaigns at volume");
 *   - total time from the start of the workers until every mail is settled after the restart;
 *   - peak RSS of either mailroom process;
 *   - resume: from the restarted process's spawn until the campaign is done and no mail is left
 *     queued or sending; the peer counts per recipient, so duplicates are counted, not assumed.
 *
 * Subscribers are generated with bulk inserts into the real schema (migrations from src/store) in
 * large transactions, once; every run works on a copy of that database file.
 *
 * Environment:
 *   BENCH_SCALE=0.1             shrink the subscriber count (100,000 x scale, at least 500)
 *   BENCH_CAMPAIGN_RUNS=5       rounds wanted (one campaign run + one baseline run each; default 5)
 *   BENCH_CAMPAIGN_BUDGET_S=230 seconds the rounds may take: the first always runs, another only
 *                               when it is expected to fit; the notes say how many ran
 *   BENCH_MEM_LOG=1             the mailroom processes print their heap every 2 s (stderr)
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { createList, type ListsSettings } from '../../src/lists/index.ts';
import { migrate, openDatabase } from '../../src/store/index.ts';
import { type Figure, type SuiteResult, stats } from '../lib.ts';
import { personName, recipient } from '../mail-data.ts';
import {
  baselineRound,
  type CountingPeer,
  forkChild,
  nextMessage,
  type PeerStats,
  reap,
  secs,
  startCountingPeer,
  withTimeout,
} from '../peer.ts';
import { scaled } from '../scale.ts';

const N = scaled(100_000, 500);
const RUNS = Math.max(1, Number(process.env.BENCH_CAMPAIGN_RUNS ?? 5) || 5);
const BUDGET_S = Number(process.env.BENCH_CAMPAIGN_BUDGET_S ?? 230) || 230;
const HEADERS = ['List-Unsubscribe', 'List-Unsubscribe-Post'];
/**
 * The lists' dispatcher throttle. The shipped defaults are 20 mails/s overall and 5/s per domain,
 * which would make this a 5,000 s benchmark of a sleep; raised far above what one process can
 * send, so the machinery is what is measured.
 */
const SETTINGS: Partial<ListsSettings> = { ratePerSecond: 100_000, perDomainPerSecond: 100_000 };
/** Pooled SMTP connections of mailroom and the baseline in this suite (see the header). */
const CAMPAIGN_CONNECTIONS = 5;

const hr = () => process.hrtime.bigint();

const LONG = Math.max(600_000, N * 10);

/** The subscriber database every run copies: one confirmed list of N subscribers. */
function prepareDatabase(file: string): { listId: number; ms: number } {
  const started = Date.now();
  const db = openDatabase(file);
  migrate(db);
  const now = Date.now();
  const list = createList(
    db,
    { slug: 'tea-notes', name: 'Tea notes', consentWording: 'Send me Tea notes, about once a month.' },
    now,
  );
  const sub = db.prepare(
    `INSERT INTO subscribers (id, email, name, locale, attributes, status, created_at, updated_at)
     VALUES (?, ?, ?, 'en', ?, 'active', ?, ?)`,
  );
  const member = db.prepare(
    `INSERT INTO list_memberships (list_id, subscriber_id, status, created_at, requested_at, confirmed_at)
     VALUES (?, ?, 'confirmed', ?, ?, ?)`,
  );
  const CHUNK = 50_000;
  for (let from = 0; from < N; from += CHUNK) {
    db.transaction(() => {
      for (let i = from; i < Math.min(N, from + CHUNK); i++) {
        const id = i + 1;
        sub.run(
          id,
          recipient('s', i),
          personName(i),
          JSON.stringify({ tier: i % 3 ? 'leaf' : 'pot' }),
          now,
          now,
        );
        member.run(list.id, id, now, now, now);
      }
    }).immediate();
  }
  db.close();
  return { listId: list.id, ms: Date.now() - started };
}

interface Done {
  type: 'done';
  t1Ns: string;
  outbox: Record<string, number>;
  sends: Record<string, number>;
  peakRssMb: number | null;
  cpuMs: number;
}

function startChild(dataDir: string, peer: CountingPeer, mode: 'fresh' | 'resume', listId: number) {
  const spawnedNs = hr();
  const child = forkChild('campaign-mailroom.ts', [
    JSON.stringify({
      dataDir,
      peerPort: peer.port,
      maxConnections: CAMPAIGN_CONNECTIONS,
      mode,
      listId,
      settings: SETTINGS,
    }),
  ]);
  const started = nextMessage<{ type: 'started'; t0Ns: string; campaignId: number }>(child, 'started');
  const done = nextMessage<Done>(child, 'done');
  // Either may never come (the resume test kills the child): keep their rejections quiet.
  started.catch(() => {});
  done.catch(() => {});
  return { child, spawnedNs, started, done };
}

function freshDir(template: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-bench-campaign-'));
  mkdirSync(dir, { recursive: true });
  copyFileSync(template, path.join(dir, 'mailroom.sqlite'));
  return dir;
}

interface CampaignRun {
  /** Mails the peer had when the first process was killed. */
  atKill: number;
  /** The uninterrupted part: mails/s of the first process, from the start of its workers to 50%. */
  firstRate: number;
  /** Start of the first process's workers -> every mail settled after the restart. */
  totalS: number;
  /** Spawn of the second process -> its first mail, and -> every mail settled. */
  firstMailAfterS: number;
  resumeS: number;
  peakRssMb: number;
  /** Peak RSS of the killed process (read just before the kill) and of the restarted one. */
  peaks: [number | null, number | null];
  cpuMsPerMail: number;
  uncertain: number;
  peer: PeerStats;
}

/** One campaign to every subscriber, SIGKILLed at 50% and restarted on the same database. */
async function campaignRun(template: string, listId: number, peer: CountingPeer): Promise<CampaignRun> {
  const dir = freshDir(template);
  await peer.reset(HEADERS);
  const half = peer.whenAccepted(Math.ceil(N / 2));
  const first = startChild(dir, peer, 'fresh', listId);
  let second: ReturnType<typeof startChild> | undefined;
  try {
    const s = await withTimeout(first.started, 120_000, 'campaign start');
    const h = await withTimeout(half, LONG, 'peer waiting for 50%');
    const report = nextMessage<{ type: 'report'; peakRssMb: number | null; cpuMs: number }>(
      first.child,
      'report',
    );
    first.child.send({ type: 'report' });
    const r1 = await withTimeout(report, 30_000, 'report before the kill');
    first.child.kill('SIGKILL');
    await reap(first.child, 10_000);
    const atKill = (await peer.stats()).accepted;
    const next = peer.whenAccepted(atKill + 1);
    second = startChild(dir, peer, 'resume', listId);
    const firstAfter = await withTimeout(next, LONG, 'first mail after the restart');
    const d = await withTimeout(second.done, LONG, 'resumed campaign');
    const final = await peer.stats();
    if ((d.sends.sent ?? 0) !== N)
      throw new Error(`campaign: outbox ${JSON.stringify(d.outbox)}, sends ${JSON.stringify(d.sends)}`);
    return {
      atKill,
      firstRate: h.accepted / secs(s.t0Ns, h.lastAtNs as string),
      totalS: secs(s.t0Ns, d.t1Ns),
      firstMailAfterS: secs(second.spawnedNs, firstAfter.lastAtNs as string),
      resumeS: secs(second.spawnedNs, d.t1Ns),
      peakRssMb: Math.max(r1.peakRssMb ?? 0, d.peakRssMb ?? 0),
      peaks: [r1.peakRssMb, d.peakRssMb],
      cpuMsPerMail: (r1.cpuMs + d.cpuMs) / N,
      uncertain: d.outbox.uncertain ?? 0,
      peer: final,
    };
  } finally {
    await reap(first.child, 1000);
    if (second) await reap(second.child, 5000);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<SuiteResult> {
  const started = Date.now();
  const maxConnections = CAMPAIGN_CONNECTIONS;
  const defaultConnections = loadConfig({ env: {}, cwd: os.tmpdir() }).smtp.max_connections;
  const work = mkdtempSync(path.join(os.tmpdir(), 'mailroom-bench-subscribers-'));
  const template = path.join(work, 'subscribers.sqlite');
  const peer = await startCountingPeer();
  const baseline = forkChild('baseline.ts', [
    JSON.stringify({ peerPort: peer.port, maxConnections, mode: 'newsletter', count: N }),
  ]);
  const runs: CampaignRun[] = [];
  const base: Array<{ rate: number; cpuMsPerMail: number }> = [];
  let generated = { listId: 0, ms: 0 };
  try {
    generated = prepareDatabase(template);
    await withTimeout(nextMessage(baseline, 'ready'), 120_000, 'baseline warm-up');
    let id = 0;
    const baselineRun = async () =>
      baselineRound(baseline, peer, { runId: ++id, count: N, timeoutMs: LONG, requireHeaders: HEADERS });
    // A round is one campaign run and one baseline run; rounds stop at RUNS or when the next one
    // would overrun the budget (the first always runs).
    const began = Date.now();
    for (;;) {
      const roundStart = Date.now();
      runs.push(await campaignRun(template, generated.listId, peer));
      base.push(await baselineRun());
      const round = Date.now() - roundStart;
      const c = runs.at(-1) as CampaignRun;
      console.error(
        `bench: campaign round ${runs.length}: ${c.firstRate.toFixed(0)} mails/s before the kill, total ${c.totalS.toFixed(0)} s, resume ${c.resumeS.toFixed(0)} s, duplicates ${c.peer.duplicates}; baseline ${base.at(-1)?.rate.toFixed(0)} mails/s (${(round / 1000).toFixed(0)} s)`,
      );
      if (runs.length >= RUNS || Date.now() - began + round > BUDGET_S * 1000) break;
    }
  } finally {
    if (baseline.connected) baseline.send({ type: 'close' });
    await reap(baseline, 5000);
    await peer.close();
    rmSync(work, { recursive: true, force: true });
  }
  const med = (xs: number[]) => stats(xs).median;
  const n = N.toLocaleString('en-US');
  const tookS = Math.round((Date.now() - started) / 1000);
  const figures: Figure[] = [
    {
      name: `campaign to ${n} subscribers: mails/s, start -> 50% (uninterrupted; expansion of all included)`,
      unit: 'mails/s',
      samples: runs.map((r) => r.firstRate),
      baselineSamples: base.map((b) => b.rate),
      target: '>= 1,000',
    },
    {
      name: `campaign to ${n} subscribers: total time, start -> all sent (SIGKILL + restart at 50% included)`,
      unit: 's',
      better: 'lower',
      samples: runs.map((r) => r.totalS),
      baselineSamples: base.map((b) => N / b.rate),
    },
    {
      name: `campaign to ${n} subscribers: peak RSS of a mailroom process`,
      unit: 'MB',
      better: 'lower',
      samples: runs.map((r) => r.peakRssMb),
      target: N >= 100_000 ? '< 300' : '< 300 (at 100,000)',
    },
    {
      name: 'resume after SIGKILL at 50%: restart -> all sent',
      unit: 's',
      better: 'lower',
      samples: runs.map((r) => r.resumeS),
    },
    {
      name: 'resume after SIGKILL at 50%: recipients who got the campaign twice',
      unit: 'mails',
      better: 'lower',
      samples: runs.map((r) => r.peer.duplicates),
      target: '0',
    },
    {
      name: 'resume after SIGKILL at 50%: recipients never reached (outbox rows left uncertain)',
      unit: 'mails',
      better: 'lower',
      samples: runs.map((r) => N - r.peer.unique),
    },
    {
      name: 'mails without List-Unsubscribe + List-Unsubscribe-Post, or with To != recipient',
      unit: 'mails',
      better: 'lower',
      samples: runs.map((r) => r.peer.missingHeaders + r.peer.toMismatch),
      target: '0',
    },
  ];
  const limits: string[] = [];
  if (med(runs.map((r) => r.firstRate)) < 1000)
    limits.push(
      'What limits the rate (node --cpu-prof of the mailroom process; BENCH_CPU_PROF=DIR writes such profiles): ' +
        'a campaign batch sends its mails itself (one commit per mail: the outbox row and the data_sent stage ' +
        'right before the end of DATA), so what is left is the outbound path every mail shares: the Handlebars ' +
        'render with html-to-text, the MIME build, the SMTP socket writes and that commit, on the one JS thread, ' +
        'with the peer and the SQLite writes sharing the two cores.',
    );
  if (med(runs.map((r) => r.peakRssMb)) >= 300)
    limits.push(
      'Peak RSS: ~140 MB is the process at rest (Node, tsx and the modules a workers process loads; the web ' +
        'server, bullmq and imapflow are loaded only by the processes that use them); the rest is V8 growing old ' +
        'space with garbage that outlives young-generation GCs (the render and MIME build of each mail) until ' +
        'its next major GC (BENCH_MEM_LOG=1).',
    );
  return {
    name: 'campaign',
    figures,
    notes: [
      `${n} subscribers (one confirmed list), generated in ${(generated.ms / 1000).toFixed(1)} s. ${runs.length} round${runs.length === 1 ? '' : 's'} of one campaign run + one baseline run${runs.length < RUNS ? ` (${RUNS} wanted; the ${BUDGET_S} s budget allowed ${runs.length})` : ''}; suite took ${tookS} s${tookS > BUDGET_S + 30 ? `, over its ${BUDGET_S} s budget: one ${n}-mail campaign alone takes ${med(runs.map((r) => r.totalS)).toFixed(0)} s at this throughput` : ''}.`,
      `Every campaign run is killed (SIGKILL) when the peer has 50% and restarted on the same database, so the ${n} mails go out once per run, not twice: mails/s is the uninterrupted first half (including the expansion of all ${n} recipients); total time includes the kill and the restart.`,
      `Resume (median): killed at ${med(runs.map((r) => r.atKill)).toFixed(0)} mails; the new process sent its first mail ${med(runs.map((r) => r.firstMailAfterS)).toFixed(1)} s after spawn (tsx start-up included); jobs the killed process held are taken back at start (the embedded queue sees their worker process is gone). Peak RSS per run, killed / restarted process: ${runs.map((r) => r.peaks.map((p) => p?.toFixed(0) ?? '?').join(' / ')).join(', ')} MB. Outbox rows left 'uncertain' per run (DATA handed over when the process died: presumed delivered, never resent, by design): ${runs.map((r) => r.uncertain).join(', ')}.`,
      `Dispatcher throttle raised for the benchmark (ratePerSecond and perDomainPerSecond ${SETTINGS.ratePerSecond}; dispatch batch and tick left at their defaults, 500 rows per 250 ms): with the shipped limits (20/s overall, 5/s per domain) this campaign would take ${Math.round(N / 20).toLocaleString('en-US')} s whatever the machine.`,
      `CPU time per mail (median): mailroom ${med(runs.map((r) => r.cpuMsPerMail)).toFixed(2)} ms (both processes), baseline ${med(base.map((b) => b.cpuMsPerMail)).toFixed(2)} ms. SMTP: ${maxConnections} pooled connections for mailroom (smtp.max_connections; the default is ${defaultConnections}, see the suite's header) and the baseline, a nodemailer pool sending the newsletter pre-rendered (one render per distinct name, the unsubscribe link filled in per recipient) with the same List-* headers.`,
      'The peer is a real smtp-server in its own process that keeps no bodies: it counts per envelope recipient and checks each header block.',
      ...limits,
      'Fixed on the way (src): campaign batches send their mails straight to the pooled SMTP transport (one list-sends job per 100 recipients instead of a list-sends job and an outbound job per mail: ~1 commit per mail instead of ~12), expansion reads the list a page at a time, the throttle counts a whole claim in memory and writes once, and the auto-pause check skips counting sent rows while a campaign has no bounce and no complaint; earlier, the complaint count got a partial index (migration 0012). See the send suite for the outbound and queue fixes this path shares.',
    ],
  };
}
