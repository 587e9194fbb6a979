import { Redis } from 'ioredis';
import nodemailer from 'nodemailer';
import { describe, expect, it } from 'vitest';
import {
  appendMessages,
  binary,
  createImapUser,
  dovecotInfo,
  imapClient,
  launchBrowser,
  redisInfo,
  startSmtpPeer,
} from './index.ts';

const dovecot = dovecotInfo();
const redis = redisInfo();
const chromium = binary('chromium');

describe.skipIf(!dovecot)('harness: Dovecot', () => {
  it('creates a user, appends mail and reads it back over IMAP', async () => {
    if (!dovecot) return;
    const u = createImapUser(dovecot);
    const uids = await appendMessages(u, [
      'From: a@example.com\r\nSubject: hi\r\nMessage-ID: <h1@example.com>\r\n\r\nhello\r\n',
    ]);
    expect(uids).toHaveLength(1);
    const c = imapClient(u);
    await c.connect();
    const lock = await c.getMailboxLock('INBOX');
    try {
      const msg = await c.fetchOne('*', { envelope: true });
      expect(msg ? msg.envelope?.subject : undefined).toBe('hi');
    } finally {
      lock.release();
      await c.logout();
    }
  });
});

describe.skipIf(!redis)('harness: Redis', () => {
  it('answers commands', async () => {
    if (!redis) return;
    const r = new Redis(redis.url);
    await r.set('k', 'v');
    expect(await r.get('k')).toBe('v');
    r.disconnect();
  });
});

describe('harness: SMTP peer', () => {
  it('records what it accepts and can refuse with a chosen code', async () => {
    const peer = await startSmtpPeer();
    const t = nodemailer.createTransport({
      host: peer.host,
      port: peer.port,
      secure: false,
      ignoreTLS: true,
    });
    await t.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 'x', text: 'y' });
    expect(peer.received).toHaveLength(1);
    expect(peer.received[0]?.raw).toContain('Subject: x');
    peer.setFaults([{ kind: 'reply', stage: 'rcpt', code: 550, message: 'no such user', times: 1 }]);
    await expect(
      t.sendMail({ from: 'a@example.com', to: 'c@example.com', subject: 'x', text: 'y' }),
    ).rejects.toMatchObject({
      responseCode: 550,
    });
    t.close();
    await peer.close();
  });
});

describe.skipIf(!chromium)('harness: Chromium', () => {
  it('renders a page headless', async () => {
    if (!chromium) return;
    const browser = await launchBrowser(chromium);
    const page = await browser.newPage();
    await page.setContent('<h1 id="t">mailroom</h1>');
    expect(await page.textContent('#t')).toBe('mailroom');
    await browser.close();
  });
});
