/**
 * Child process for the resume test: runs the campaign dispatcher and send workers against the
 * database file, sending through a real SMTP server, until the campaign is done. The test SIGKILLs
 * it half-way and starts it again.
 */
import nodemailer from 'nodemailer';
import { silentLogger, systemClock } from '../../src/lib/index.ts';
import { createCampaignRunner, getCampaign } from '../../src/lists/index.ts';
import { openDatabase } from '../../src/store/index.ts';
import { SECRET, testRender } from './helpers.ts';
import { testQueue } from './test-queue.ts';

const [dbFile, port, campaignId] = process.argv.slice(2);
const db = openDatabase(dbFile as string);
const transport = nodemailer.createTransport({
  host: '127.0.0.1',
  port: Number(port),
  secure: false,
  pool: true,
});
const queue = testQueue({ retryDelayMs: 3000 });
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
    send: async (m) => {
      await transport.sendMail({
        from: 'news@shop.example.com',
        to: m.to,
        subject: m.subject,
        text: m.text,
        html: m.html,
        headers: m.headers,
        envelope: { from: m.envelopeFrom, to: m.to },
      });
    },
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
    transport.close();
    db.close();
    process.exit(0);
  }
}, 50);
