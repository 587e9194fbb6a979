/**
 * Child process for the resume test: runs the campaign dispatcher and batch workers against the
 * database file, sending through a real SMTP server, until the campaign is done. The test SIGKILLs
 * it half-way and starts it again.
 *
 * argv: <db file> <smtp port> <campaign id> <mode>
 *   direct  batches send straight to SMTP through the outbound side's direct list sender, as
 *           `mailroom start` composes it (outbox row per mail, data_sent stage on the send row)
 *   send    each mail goes through a plain SendFn (here nodemailer), as in tests and other
 *           composition roots without a direct sender
 */
import os from 'node:os';
import nodemailer from 'nodemailer';
import { createMailServices } from '../../src/app/mail-services.ts';
import { loadConfig } from '../../src/config/index.ts';
import { silentLogger, systemClock } from '../../src/lib/index.ts';
import { createCampaignRunner, getCampaign, type SendFn } from '../../src/lists/index.ts';
import { openDatabase } from '../../src/store/index.ts';
import { SECRET, testRender } from './helpers.ts';
import { testQueue } from './test-queue.ts';

const [dbFile, port, campaignId, mode] = process.argv.slice(2);
const db = openDatabase(dbFile as string);
const queue = testQueue({ retryDelayMs: 3000 });
let send: SendFn;
let close = () => {};
if (mode === 'direct') {
  const config = loadConfig({
    env: { MAILROOM_SMTP_HOST: '127.0.0.1', MAILROOM_SMTP_PORT: String(port) },
    cwd: os.tmpdir(),
  });
  send = createMailServices({ config, db, queue, clock: systemClock, logger: silentLogger() }).sendListMail;
} else {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: Number(port),
    secure: false,
    pool: true,
  });
  close = () => transport.close();
  send = async (m) => {
    await transport.sendMail({
      from: 'news@shop.example.com',
      to: m.to,
      subject: m.subject,
      text: m.text,
      html: m.html,
      headers: m.headers,
      envelope: { from: m.envelopeFrom, to: m.to },
    });
  };
}
const runner = createCampaignRunner({
  deps: {
    db,
    clock: systemClock,
    logger: silentLogger(),
    secret: SECRET,
    publicUrl: 'https://shop.example.com',
    mailDomain: 'shop.example.com',
    from: 'news@shop.example.com',
    render: testRender,
    settings: { ratePerSecond: 1000, perDomainPerSecond: 1000 },
    send,
  },
  queue,
  tickMs: 20,
});
runner.work();
await runner.start();
const timer = setInterval(() => {
  if (getCampaign(db, Number(campaignId)).status === 'done') {
    clearInterval(timer);
    runner.stop();
    close();
    db.close();
    process.exit(0);
  }
}, 50);
