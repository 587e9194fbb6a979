// One measured ingest run in its own process, so its peak RSS is its own. Started by
// bench/suites/ingest.ts; prints one JSON line ({ messages, seconds, rate, peakRssMb, ... }).
//
//   node --import tsx bench/ingest-child.ts mailroom   # mailroom.yaml in BENCH_DATA_DIR, poller role
//   node --import tsx bench/ingest-child.ts baseline   # imapflow FETCH + simpleParser, nothing stored
//
// Env: BENCH_DATA_DIR (mailroom), BENCH_IMAP_HOST/PORT/USER/PASSWORD, BENCH_EXPECT (messages).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { simpleParser } from 'mailparser';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config/index.ts';
import { silentLogger } from '../src/lib/index.ts';

export interface ChildResult {
  mode: 'mailroom' | 'baseline';
  messages: number;
  seconds: number;
  rate: number;
  peakRssMb: number;
  conversations?: number;
  /** Mail queued in the outbox (acknowledgements) by the run. */
  queued?: number;
  startRssMb: number;
  /** CPU time (user + system) of this process during the measured part, in seconds. */
  cpuSeconds: number;
  /** Resident set size as the stored count passed each quarter of the run (mailroom). */
  rssAt?: Array<{ messages: number; rssMb: number }>;
}

function cpuSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

function rssMb(field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / 2 ** 20;
}

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const expect = Number(env('BENCH_EXPECT'));

async function mailroom(): Promise<ChildResult> {
  const dataDir = env('BENCH_DATA_DIR');
  const config = loadConfig({ configPath: path.join(dataDir, 'mailroom.yaml'), cwd: dataDir });
  const app = await createApp({ config, logger: silentLogger() });
  const startRssMb = rssMb('VmRSS');
  const count = app.db.prepare("SELECT count(*) FROM messages WHERE direction = 'in'").pluck();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await app.start(['poller']);
  const poller = app.poller;
  if (!poller) throw new Error('the poller did not start');
  const deadline = Date.now() + 20 * 60_000;
  // The first sync of an account ends with lastSyncAt set; it has then taken every message in.
  // Until every message is stored only a prepared count is polled (status() compiles its SQL).
  const rssAt: Array<{ messages: number; rssMb: number }> = [];
  for (;;) {
    const stored = count.get() as number;
    if (stored >= ((rssAt.length + 1) * expect) / 4) rssAt.push({ messages: stored, rssMb: rssMb('VmRSS') });
    if (stored >= expect) {
      const st = poller.status()[0];
      if (st?.lastSyncAt != null) break;
    }
    if (Date.now() > deadline)
      throw new Error(`ingest did not finish: ${poller.status()[0]?.lastError ?? 'no error'}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuSeconds = cpuSince(cpu0);
  const messages = count.get() as number;
  const conversations = app.db.prepare('SELECT count(*) FROM conversations').pluck().get() as number;
  const queued = app.db.prepare('SELECT count(*) FROM outbox').pluck().get() as number;
  await app.stop();
  if (messages !== expect) throw new Error(`stored ${messages} messages, expected ${expect}`);
  return {
    mode: 'mailroom',
    messages,
    seconds,
    rate: messages / seconds,
    peakRssMb: rssMb('VmHWM'),
    startRssMb,
    conversations,
    queued,
    cpuSeconds,
    rssAt,
  };
}

/** The least any IMAP ingest does: fetch every message's source and parse it; bounded windows. */
async function baseline(): Promise<ChildResult> {
  const startRssMb = rssMb('VmRSS');
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const client = new ImapFlow({
    host: env('BENCH_IMAP_HOST'),
    port: Number(env('BENCH_IMAP_PORT')),
    secure: false,
    doSTARTTLS: false,
    auth: { user: env('BENCH_IMAP_USER'), pass: env('BENCH_IMAP_PASSWORD') },
    logger: false,
  });
  client.on('error', () => {});
  await client.connect();
  let messages = 0;
  let sink = 0;
  const lock = await client.getMailboxLock('INBOX', { readOnly: true });
  try {
    const uidNext = client.mailbox ? client.mailbox.uidNext : 1;
    const WINDOW = 1000;
    for (let lo = 1; lo < uidNext; lo += WINDOW) {
      const range = `${lo}:${Math.min(uidNext - 1, lo + WINDOW - 1)}`;
      for await (const m of client.fetch(range, { uid: true, source: true }, { uid: true })) {
        if (!m.source) continue;
        const parsed = await simpleParser(m.source);
        sink += (parsed.text?.length ?? 0) + parsed.attachments.length;
        messages++;
      }
    }
  } finally {
    lock.release();
  }
  await client.logout();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuSeconds = cpuSince(cpu0);
  if (sink < 0 || messages !== expect) throw new Error(`fetched ${messages} messages, expected ${expect}`);
  return {
    mode: 'baseline',
    messages,
    seconds,
    rate: messages / seconds,
    peakRssMb: rssMb('VmHWM'),
    startRssMb,
    cpuSeconds,
  };
}

const mode = process.argv[2];
const result = mode === 'mailroom' ? await mailroom() : mode === 'baseline' ? await baseline() : null;
if (!result) {
  console.error('usage: ingest-child.ts mailroom|baseline');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
