/**
 * One mailroom process of the campaign benchmark, on a database the parent prepared (a confirmed
 * list of subscribers). mailroom is built as `mailroom start` builds it (createApp, default
 * config apart from data dir, SMTP peer and its pooled connections, embedded queue) and started with the workers role:
 * the outbound send worker and the campaign send worker. The campaign dispatcher is the lists'
 * own runner (createLists -> campaignRunner -> start), with the send throttle raised (see the
 * suite's notes). mode `fresh` creates and starts the campaign; `resume` picks up the campaign a
 * killed process left behind (runner.start() re-enqueues its rows, expired job leases return).
 *
 * argv: JSON { dataDir, peerPort, maxConnections, mode: 'fresh' | 'resume', listId, settings, tickMs? }
 * IPC: -> started { t0Ns, campaignId } ; <- report -> report { peakRssMb, cpuMs } (any time) ;
 *      -> done { t1Ns, outbox, sends, peakRssMb, cpuMs } once the campaign is done and no mail is
 *      left queued or sending, then exit 0. cpuMs counts from before the workers start.
 */
import { readFileSync } from 'node:fs';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/lib/index.ts';
import {
  createCampaign,
  createLists,
  getCampaign,
  type ListsSettings,
  startCampaign,
} from '../../src/lists/index.ts';

interface Args {
  dataDir: string;
  peerPort: number;
  /** smtp.max_connections of this process. */
  maxConnections: number;
  mode: 'fresh' | 'resume';
  listId: number;
  settings: Partial<ListsSettings>;
  tickMs?: number;
}

const args = JSON.parse(process.argv[2] as string) as Args;
const send = (m: unknown) => process.send?.(m);

const env: NodeJS.ProcessEnv = {
  MAILROOM_DATA_DIR: args.dataDir,
  MAILROOM_SMTP_HOST: '127.0.0.1',
  MAILROOM_SMTP_PORT: String(args.peerPort),
  MAILROOM_SMTP_MAX_CONNECTIONS: String(args.maxConnections),
  MAILROOM_SESSION_SECRET: 'bench-session-secret-0123456789abcdef',
  MAILROOM_PUBLIC_URL: 'https://shop.example.com',
};
const config = loadConfig({ env, cwd: args.dataDir });
const logger = createLogger({ level: config.log_level, pretty: false });
const app = await createApp({ config, logger });
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
await app.start(['workers']);

const { db } = app;
let campaignId: number;
if (args.mode === 'fresh') {
  const c = createCampaign(
    db,
    { name: 'Spring harvest', listIds: [args.listId], template: 'newsletter', subject: 'Spring harvest' },
    Date.now(),
  );
  startCampaign(db, c.id, Date.now());
  campaignId = c.id;
} else {
  const row = db.prepare(`SELECT id FROM campaigns ORDER BY id DESC LIMIT 1`).get() as { id: number };
  campaignId = row.id;
}
const lists = createLists({ ...app.lists.deps, settings: args.settings });
const runner = lists.campaignRunner(app.queue, args.tickMs ? { tickMs: args.tickMs } : {});
await runner.start();
send({ type: 'started', t0Ns: String(t0), campaignId });

const peakRssMb = () => {
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return hwm ? Number(hwm[1]) / 1024 : null;
};
const cpuMs = () => ((c) => (c.user + c.system) / 1000)(process.cpuUsage(cpu0));
// The parent asks just before it kills this process.
process.on('message', (m: { type?: string }) => {
  if (m.type === 'report') send({ type: 'report', peakRssMb: peakRssMb(), cpuMs: cpuMs() });
});

// BENCH_MEM_LOG=1: the heap every 2 s on stderr, to see where the peak RSS comes from.
if (process.env.BENCH_MEM_LOG) {
  setInterval(() => {
    const m = process.memoryUsage();
    const mb = (x: number) => Math.round(x / 2 ** 20);
    process.stderr.write(
      `mem rss ${mb(m.rss)} heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} ext ${mb(m.external)} ab ${mb(m.arrayBuffers)}\n`,
    );
  }, 2000).unref();
}
const unsettled = db.prepare("SELECT count(*) AS n FROM outbox WHERE status IN ('queued', 'sending')");
for (;;) {
  await new Promise((r) => setTimeout(r, 50));
  if (getCampaign(db, campaignId).status !== 'done') continue;
  if ((unsettled.get() as { n: number }).n === 0) break;
}
const t1 = process.hrtime.bigint();
const cpu = cpuMs();
const counts = (sql: string) =>
  Object.fromEntries((db.prepare(sql).all() as Array<{ k: string; n: number }>).map((r) => [r.k, r.n]));
const outbox = counts('SELECT status AS k, count(*) AS n FROM outbox GROUP BY status');
const sends = counts('SELECT status AS k, count(*) AS n FROM campaign_sends GROUP BY status');
runner.stop();
await app.stop(5000);
send({ type: 'done', t1Ns: String(t1), outbox, sends, peakRssMb: peakRssMb(), cpuMs: cpu });
process.disconnect?.();
process.exit(0);
