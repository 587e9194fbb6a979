/**
 * The raw baseline of the send and campaign benchmarks: nodemailer's own pooled SMTP transport
 * (pool: true, mailroom's smtp.max_connections) sending pre-rendered messages to the same peer.
 * The messages are rendered with mailroom's renderer before any timing, from the same data mailroom
 * renders per mail; nodemailer still builds the MIME of each message while sending, as any plain
 * nodemailer sender would. Sends keep a window of mails in flight so the pool never idles, without
 * holding 100,000 queued messages in memory.
 *
 * argv: JSON { peerPort, maxConnections, mode: 'order' | 'newsletter', count }
 * IPC: -> ready ; <- go { id, prefix, count } ; -> done { id, t0Ns, endNs, failed, cpuMs } ; <- close.
 */
import nodemailer, { type SendMailOptions } from 'nodemailer';
import { loadConfig } from '../../src/config/index.ts';
import { templateRendererFromConfig } from '../../src/outbound/index.ts';
import { orderData, personName, recipient } from '../mail-data.ts';

interface Args {
  peerPort: number;
  maxConnections: number;
  mode: 'order' | 'newsletter';
  count: number;
}
interface Prepared {
  subject: string;
  html: string;
  text: string;
}

const args = JSON.parse(process.argv[2] as string) as Args;
const config = loadConfig({ env: {}, cwd: process.cwd() });
const renderer = templateRendererFromConfig(config, { publicUrl: 'https://shop.example.com' });
const from = config.mail.from;
const WINDOW = 64;

// order: every mail rendered up front. newsletter: one render per distinct name with a placeholder
// for the per-recipient unsubscribe link, filled in per mail (100,000 renders would take longer
// than the sending being measured).
const TOKEN = 'TOKENPLACEHOLDER';
const orders: Prepared[] = [];
const letters = new Map<string, Prepared>();
if (args.mode === 'order') {
  for (let i = 0; i < args.count; i++) {
    const r = renderer.renderTemplate('order-confirmation', 'en', orderData(i));
    orders.push({ subject: r.subject, html: r.html, text: r.text });
  }
}
function newsletter(i: number): Prepared & { url: string } {
  const name = personName(i);
  let base = letters.get(name);
  if (!base) {
    const r = renderer.renderTemplate('newsletter', 'en', {
      name,
      email: 'x@example.com',
      attributes: {},
      unsubscribeUrl: `https://shop.example.com/u/${TOKEN}`,
      list: { name: 'Tea notes', slug: 'tea-notes' },
      campaign: { id: 1, name: 'Spring harvest', subject: 'Spring harvest', tracking: false },
    });
    base = { subject: r.subject, html: r.html, text: r.text };
    letters.set(name, base);
  }
  const token = `${i.toString(36)}.${'x'.repeat(60)}`;
  const url = `https://shop.example.com/u/${token}`;
  return {
    url,
    subject: base.subject,
    html: base.html.split(TOKEN).join(token),
    text: base.text.split(TOKEN).join(token),
  };
}
for (let i = 0; i < 200; i++) newsletter(i);

const transport = nodemailer.createTransport({
  host: '127.0.0.1',
  port: args.peerPort,
  secure: false,
  ignoreTLS: true,
  pool: true,
  maxConnections: args.maxConnections,
});

function mailFor(prefix: string, i: number): SendMailOptions {
  const to = recipient(prefix, i);
  if (args.mode === 'order') {
    const m = orders[i % orders.length] as Prepared;
    return { from, to, subject: m.subject, html: m.html, text: m.text };
  }
  const m = newsletter(i);
  return {
    from,
    to,
    subject: m.subject,
    html: m.html,
    text: m.text,
    headers: {
      'List-Unsubscribe': `<${m.url}>, <mailto:unsubscribe+${i}@mailroom.local?subject=unsubscribe>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      Precedence: 'bulk',
    },
    envelope: { from: `bounce+${i.toString(36)}@mailroom.local`, to },
  };
}

async function run(prefix: string, count: number): Promise<number> {
  let next = 0;
  let failed = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      try {
        await transport.sendMail(mailFor(prefix, i));
      } catch {
        failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, lane));
  return failed;
}

// Warm-up (JIT, connections); the parent resets the peer afterwards.
await run('warm', 300);
process.send?.({ type: 'ready' });

process.on('message', async (m: { type: string; id?: number; prefix?: string; count?: number }) => {
  if (m.type === 'close') {
    transport.close();
    process.disconnect?.();
    process.exit(0);
  }
  if (m.type !== 'go') return;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const failed = await run(m.prefix ?? 'base', m.count ?? args.count);
  process.send?.({
    type: 'done',
    id: m.id,
    t0Ns: String(t0),
    endNs: String(process.hrtime.bigint()),
    failed,
    cpuMs: ((c) => (c.user + c.system) / 1000)(process.cpuUsage(cpu0)),
  });
});
