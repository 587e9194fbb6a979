import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { ManualClock, silentLogger } from '../../src/lib/index.ts';
import { freePort, type SmtpPeer, startSmtpPeer } from '../harness/index.ts';

const HOUR = 3_600_000;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startApp(peer: SmtpPeer): Promise<{ app: App; clock: ManualClock }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-escalation-'));
  writeFileSync(
    path.join(dir, 'mailroom.yaml'),
    [
      'mail:',
      '  from: Lotus Tea House <support@shop.example>',
      '  domain: shop.example',
      '  departments:',
      '    finance: { escalation: finance-lead@shop.example }',
      'sla: { scan_interval_s: 60 }',
    ].join('\n'),
  );
  const config = loadConfig({
    env: {
      MAILROOM_DATA_DIR: dir,
      MAILROOM_PORT: String(await freePort()),
      MAILROOM_SMTP_HOST: peer.host,
      MAILROOM_SMTP_PORT: String(peer.port),
    },
    cwd: dir,
  });
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0));
  const app = await createApp({ config, logger: silentLogger(), clock });
  cleanups.push(async () => {
    await app.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  });
  await app.start(['scheduler', 'workers']);
  return { app, clock };
}

describe('SLA escalation mail', () => {
  it('tells the department lead, once per stage, which conversation is late and where to open it', async () => {
    const peer = await startSmtpPeer();
    cleanups.push(() => peer.close());
    const { app, clock } = await startApp(peer);
    const raw = Buffer.from(
      'From: Emma Stone <emma@customer.example>\r\nTo: support@shop.example\r\nSubject: Invoice request for order 10388\r\n' +
        'Message-ID: <inv-1@customer.example>\r\nDate: Mon, 05 Jan 2026 09:00:00 +0000\r\n\r\nPlease send me the invoice.\r\n',
    );
    const stored = await app.pipeline.ingestRaw(raw, { kind: 'import', file: 'inv.eml' });
    expect(stored.status).toBe('stored');

    const toLead = () => peer.received.filter((m) => m.to.includes('finance-lead@shop.example'));
    clock.advance(22 * HOUR); // past the warning point (80% of 24 h), before the breach
    await until(() => toLead().length === 1);
    clock.advance(4 * HOUR);
    await until(() => toLead().length === 2);
    clock.advance(HOUR);
    await new Promise((r) => setTimeout(r, 1500));
    expect(toLead()).toHaveLength(2);

    const [warning, breach] = await Promise.all(toLead().map((m) => simpleParser(m.raw)));
    const ref = `MR-${stored.conversationId}`;
    expect(warning?.subject).toBe(`SLA at risk: ${ref} Invoice request for order 10388`);
    expect(breach?.subject).toBe(`SLA breached: ${ref} Invoice request for order 10388`);
    expect(breach?.text).toContain('emma@customer.example');
    expect(breach?.html).toContain(`/c/${stored.conversationId}`);
    // Staff mail is not part of the customer's conversation.
    expect(breach?.inReplyTo).toBeUndefined();
  });
});
