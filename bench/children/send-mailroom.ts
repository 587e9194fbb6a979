/**
 * One run of the send benchmark in a fresh process: mailroom as `mailroom start` builds it
 * (createApp, workers + scheduler roles, default config apart from the data dir, SMTP peer and
 * Redis URL), sending templated mail through sendTemplate -> outbox row -> queue -> send worker ->
 * SMTP transport.
 *
 * argv: JSON { dataDir, peerPort, redisUrl?, count, warmup, template }
 * IPC: -> ready (after the warm-up mails are sent) ; <- go ; -> enqueued { t0Ns, enqueuedNs } ;
 *      <- finish ; -> finished { outbox, peakRssMb, cpuMs } and exit 0.
 */
import { readFileSync } from 'node:fs';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/lib/index.ts';
import { orderData, recipient } from '../mail-data.ts';

interface Args {
  dataDir: string;
  peerPort: number;
  redisUrl?: string;
  count: number;
  warmup: number;
  template: string;
}

const args = JSON.parse(process.argv[2] as string) as Args;
const send = (m: unknown) => process.send?.(m);
const message = <T>(type: string) =>
  new Promise<T>((resolve) => {
    const on = (m: unknown) => {
      if ((m as { type?: string }).type === type) {
        process.off('message', on);
        resolve(m as T);
      }
    };
    process.on('message', on);
  });

const env: NodeJS.ProcessEnv = {
  MAILROOM_DATA_DIR: args.dataDir,
  MAILROOM_SMTP_HOST: '127.0.0.1',
  MAILROOM_SMTP_PORT: String(args.peerPort),
  MAILROOM_SESSION_SECRET: 'bench-session-secret-0123456789abcdef',
  ...(args.redisUrl ? { MAILROOM_REDIS_URL: args.redisUrl } : {}),
};
const config = loadConfig({ env, cwd: args.dataDir });
// Default log level (info), written where `mailroom start` writes it: stdout (here /dev/null).
const logger = createLogger({ level: config.log_level, pretty: false });
const app = await createApp({ config, logger });
await app.start(['workers', 'scheduler']);

const unsettled = app.db.prepare("SELECT count(*) AS n FROM outbox WHERE status IN ('queued', 'sending')");
async function settle(): Promise<void> {
  while ((unsettled.get() as { n: number }).n > 0) await new Promise((r) => setTimeout(r, 20));
}

async function queueMails(prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await app.mail.sendTemplate({
      idempotencyKey: `${prefix}-${i}`,
      template: args.template,
      locale: 'en',
      to: recipient(prefix, i),
      data: orderData(i),
      customerId: null,
      kind: 'transactional',
    });
  }
}

// Warm-up: JIT, SQLite page cache, SMTP connections; not measured.
await queueMails('warm', args.warmup);
await settle();
send({ type: 'ready' });

await message('go');
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
await queueMails('bench', args.count);
send({ type: 'enqueued', t0Ns: String(t0), enqueuedNs: String(process.hrtime.bigint()) });

await message('finish');
// CPU time of this process from go until the peer had every mail (wall time on a shared machine
// also counts waiting for a core).
const cpu = process.cpuUsage(cpu0);
await settle();
const outbox = Object.fromEntries(
  (
    app.db.prepare('SELECT status, count(*) AS n FROM outbox GROUP BY status').all() as Array<{
      status: string;
      n: number;
    }>
  ).map((r) => [r.status, r.n]),
);
await app.stop(5000);
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
send({
  type: 'finished',
  outbox,
  peakRssMb: hwm ? Number(hwm[1]) / 1024 : null,
  cpuMs: (cpu.user + cpu.system) / 1000,
});
process.disconnect?.();
process.exit(0);
