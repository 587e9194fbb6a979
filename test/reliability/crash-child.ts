/**
 * A mailroom process for the crash tests, composed from mailroom.yaml exactly as src/app.ts does
 * (store, templates, outbox, lists, send workers against config.smtp) except for one knob: the
 * embedded queue's job lease is 1 s instead of 30 s, so the restart after a SIGKILL takes back the
 * jobs the dead process held at once rather than half a minute later. (`mailroom start` would
 * reclaim them just the same, only later; the lease is not a config key.)
 *
 * argv: <mode> <config file> <count>
 *   burst     queue <count> order confirmations (idempotency keys burst-0..), send them, exit 0
 *             once no outbox row is queued or sending
 *   campaign  run the dispatcher and workers until the campaign with id <count> is done and
 *             every outbox row it made is settled, then exit 0
 * Both may be killed at any moment and started again with the same arguments.
 */
import { createMailServices } from '../../src/app/mail-services.ts';
import { loadConfig, loadSessionSecret } from '../../src/config/index.ts';
import { createLogger, systemClock } from '../../src/lib/index.ts';
import { createLists, getCampaign } from '../../src/lists/index.ts';
import {
  createOutboxRelay,
  createSendHandler,
  createSmtpTransport,
  isSuppressed,
  OUTBOUND_QUEUE,
  outboxResultEvents,
} from '../../src/outbound/index.ts';
import { createEmbeddedQueue } from '../../src/queue/index.ts';
import { migrate, openDatabase } from '../../src/store/index.ts';

const [mode, configFile, countArg] = process.argv.slice(2);
const count = Number(countArg);
const config = loadConfig({ configPath: configFile as string });
const logger = createLogger({ level: config.log_level, pretty: false });
const clock = systemClock;
const db = openDatabase(config.paths.dbFile);
migrate(db, undefined, config.paths.dbFile);
const queue = createEmbeddedQueue({
  db,
  clock,
  logger,
  defaults: { attempts: config.queue.attempts },
  leaseMs: 1000,
  pollMs: 20,
});
const mail = createMailServices({ config, db, queue, clock, logger });
const transport = createSmtpTransport({ smtp: config.smtp, logger });
queue.listen(OUTBOUND_QUEUE, outboxResultEvents({ db, clock, logger }));
queue.work(OUTBOUND_QUEUE, createSendHandler({ db, clock, logger, transport, retryLaterMs: 200 }), {
  concurrency: config.queue.concurrency,
});
// As the database owner does at start: rows a crash left without a job are queued again.
const relay = createOutboxRelay({ db, queue, clock, logger });
await relay.start();

const unsettled = () =>
  (
    db.prepare("SELECT count(*) AS n FROM outbox WHERE status IN ('queued', 'sending')").get() as {
      n: number;
    }
  ).n;

if (mode === 'burst') {
  const sample = mail.renderer.sample('order-confirmation', 'en');
  for (let i = 0; i < count; i++) {
    await mail.sendTemplate({
      idempotencyKey: `burst-${i}`,
      template: 'order-confirmation',
      locale: 'en',
      to: `buyer${i}@customer.example`,
      data: { ...sample, order: { ...(sample.order as object), number: `B-${i}` } },
      customerId: null,
      kind: 'transactional',
    });
  }
  process.stderr.write('queued\n');
  while (unsettled() > 0) await new Promise((r) => setTimeout(r, 20));
} else if (mode === 'campaign') {
  const lists = createLists({
    db,
    clock,
    logger,
    secret: loadSessionSecret(config.credentials.sessionSecret, config.paths.dataDir),
    publicUrl: 'https://shop.example',
    mailDomain: config.mail.domain,
    from: config.mail.from,
    send: mail.sendListMail,
    render: mail.renderForLists,
    isSuppressed: (email) => isSuppressed(db, email, 'marketing'),
    // The shipped default is 20 mails a second; the test wants the whole campaign in seconds.
    settings: { ratePerSecond: 2000, perDomainPerSecond: 2000 },
  });
  const runner = lists.campaignRunner(queue, { tickMs: 50 });
  runner.work();
  await runner.start();
  while (getCampaign(db, count).status !== 'done' || unsettled() > 0)
    await new Promise((r) => setTimeout(r, 20));
  runner.stop();
} else {
  throw new Error(`unknown mode ${mode}`);
}
relay.stop();
await queue.close(2000);
transport.close();
db.close();
process.exit(0);
