/**
 * A mailroom worker in its own process, for the SIGKILL test: queues N mails (idempotent keys, so
 * a rerun queues nothing new), works the outbound queue, exits 0 once every row is settled.
 * argv: dbFile smtpPort count
 */
import { silentLogger, systemClock } from '../../src/lib/index.ts';
import {
  createSendHandler,
  OUTBOUND_QUEUE,
  outboxResultEvents,
  queueMail,
} from '../../src/outbound/index.ts';
import { createEmbeddedQueue } from '../../src/queue/index.ts';
import { migrate, openDatabase } from '../../src/store/index.ts';
import { settings } from './helpers.ts';
import { transportTo } from './smtp.ts';

const [dbFile, port, count] = process.argv.slice(2);
const db = openDatabase(dbFile as string);
migrate(db);
const logger = silentLogger();
// A short lease so the rerun reclaims the jobs the killed process held.
const queue = createEmbeddedQueue({ db, clock: systemClock, logger, leaseMs: 1000, pollMs: 20 });
const transport = transportTo({ host: '127.0.0.1', port: Number(port) }, 2);
const deps = { db, queue, clock: systemClock, logger, compose: settings };
queue.listen(OUTBOUND_QUEUE, outboxResultEvents(deps));
queue.work(OUTBOUND_QUEUE, createSendHandler({ ...deps, transport, retryLaterMs: 50 }), { concurrency: 2 });
for (let i = 0; i < Number(count); i++) {
  await queueMail(deps, {
    kind: 'test',
    idempotencyKey: `kill-${i}`,
    to: `customer${i}@example.com`,
    subject: `Mail ${i}`,
    html: `<p>mail ${i}</p>`,
    text: `mail ${i}\n`,
  });
}
process.stderr.write('queued\n');
const settled = () =>
  (
    db.prepare("SELECT count(*) AS n FROM outbox WHERE status IN ('queued', 'sending')").get() as {
      n: number;
    }
  ).n === 0;
while (!settled()) await new Promise((r) => setTimeout(r, 20));
await queue.close(2000);
transport.close();
db.close();
process.exit(0);
