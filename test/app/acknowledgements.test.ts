import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { ManualClock, silentLogger } from '../../src/lib/index.ts';
import { freePort, startSmtpPeer } from '../harness/index.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const NOW = Date.UTC(2026, 0, 20, 9, 0);
const mail = (from: string, date: Date) =>
  Buffer.from(
    `From: ${from}\r\nTo: support@shop.example\r\nSubject: Where is my parcel?\r\n` +
      `Message-ID: <${from.replace('@', '.')}@customer.example>\r\nDate: ${date.toUTCString()}\r\n\r\nHello, where is it?\r\n`,
  );
const imap = (uid: number) => ({
  kind: 'imap' as const,
  checkpoint: { account: 'shop', mailbox: 'INBOX', uidValidity: '1', uid },
});

describe('acknowledgements of mail taken in over IMAP', () => {
  it('answer fresh mail, but not mail written days ago (history pulled in when a mailbox is connected)', async () => {
    const peer = await startSmtpPeer();
    cleanups.push(() => peer.close());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-acks-'));
    const config = loadConfig({
      env: {
        MAILROOM_DATA_DIR: dir,
        MAILROOM_PORT: String(await freePort()),
        MAILROOM_SMTP_HOST: peer.host,
        MAILROOM_SMTP_PORT: String(peer.port),
        MAILROOM_MAIL_DOMAIN: 'shop.example',
      },
      cwd: dir,
    });
    const app = await createApp({ config, logger: silentLogger(), clock: new ManualClock(NOW) });
    cleanups.push(async () => {
      await app.stop(5000);
      rmSync(dir, { recursive: true, force: true });
    });
    await app.start(['workers']);

    await app.pipeline.ingestRaw(mail('old@customer.example', new Date(NOW - 30 * 86_400_000)), imap(1));
    await app.pipeline.ingestRaw(mail('new@customer.example', new Date(NOW - 3_600_000)), imap(2));
    await peer.waitFor(1);
    await new Promise((r) => setTimeout(r, 1000));
    expect(peer.received.map((m) => m.to)).toEqual([['new@customer.example']]);
    // The old message is still stored, sorted and on the clock; only the acknowledgement is skipped.
    expect(app.db.prepare("SELECT count(*) AS n FROM messages WHERE direction = 'in'").get()).toEqual({
      n: 2,
    });
  });
});
