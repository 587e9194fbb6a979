import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import type { ReplyInput } from '../../src/web/index.ts';
import { binary, launchBrowser, type SmtpPeer, startSmtpPeer } from '../harness/index.ts';
import { addUser, HOUR, makeWeb, PASSWORD, seedConversation, type TestWeb } from './helpers.ts';

const ARTIFACTS = path.join(PROJECT_ROOT, 'test', 'artifacts');
const XSS = (n: number) => `<img src=x onerror="window.__xss=${n}"><script>window.__xss=${n}</script>`;

describe.skipIf(!binary('chromium'))('staff UI in a real browser', () => {
  let browser: Browser;
  let peer: SmtpPeer;
  let web: TestWeb;
  let base: string;
  const replies: ReplyInput[] = [];
  const ids: Record<string, number> = {};
  let dir = '';

  beforeAll(async () => {
    peer = await startSmtpPeer();
    const transport = nodemailer.createTransport({
      host: peer.host,
      port: peer.port,
      secure: false,
      ignoreTLS: true,
    });
    // A small real sender until outbound is wired: nodemailer to the SMTP peer, threaded on the last inbound mail.
    const sendReply = async (input: ReplyInput) => {
      replies.push(input);
      const last = web.db
        .prepare(
          "SELECT message_id, from_addr, subject, refs FROM messages WHERE conversation_id = ? AND direction = 'in' ORDER BY received_at DESC LIMIT 1",
        )
        .get(input.conversationId) as {
        message_id: string;
        from_addr: string;
        subject: string;
        refs: string;
      };
      const info = await transport.sendMail({
        from: 'Shop <support@shop.example>',
        to: last.from_addr,
        subject: `Re: ${last.subject}`,
        text: input.text,
        inReplyTo: `<${last.message_id}>`,
        references: [...(JSON.parse(last.refs) as string[]), last.message_id].map((r) => `<${r}>`),
      });
      return { outboxId: info.messageId };
    };
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-web-browser-'));
    // The server runs on the helpers' fixed clock, so SLA states are the same on every run.
    web = await makeWeb(
      { sendReply, cannedReplies: () => [{ name: 'Shipping today', text: '今天可以发出。' }] },
      {},
      dir,
    );
    await addUser(web.db, 'lin', 'admin');
    const seed = (name: string, s: Parameters<typeof seedConversation>[1]) => {
      ids[name] = seedConversation(web.db, s).conversationId;
    };
    seed('later', {
      department: 'sales',
      subject: '询问库存：蓝色 42 码',
      fromName: '王小明',
      dueIn: 20 * HOUR,
      text: '请问还有货吗？',
    });
    seed('breached', {
      department: 'finance',
      subject: 'Refund for order 8812',
      fromName: 'Emma Stone',
      dueIn: -3 * HOUR,
      urgency: 'urgent',
    });
    seed('risk', {
      department: 'customer_service',
      subject: '包裹還沒到',
      fromName: '陳大文',
      dueIn: 1 * HOUR,
      warning: true,
    });
    seed('xss', {
      department: 'sales',
      subject: `Hello ${XSS(1)}`,
      fromName: `Mallory ${XSS(2)}`,
      text: `plain ${XSS(3)}`,
      html: `<p>Body</p>${XSS(4)}<img src="https://tracker.invalid/p.gif"><a href="javascript:window.__xss=5">x</a>`,
      dueIn: 30 * HOUR,
    });
    const m = web.db.prepare('SELECT id FROM messages WHERE conversation_id = ?').get(ids.xss) as {
      id: number;
    };
    web.db
      .prepare(
        'INSERT INTO attachments (message_id, sha256, filename, content_type, size) VALUES (?, ?, ?, ?, ?)',
      )
      .run(m.id, 'a'.repeat(64), `evil${XSS(6)}.pdf`, 'application/pdf', 10);
    await web.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = web.app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    browser = await launchBrowser(binary('chromium') as string);
    mkdirSync(ARTIFACTS, { recursive: true });
    transport.on('error', () => {});
  });

  afterAll(async () => {
    await browser?.close();
    await web?.app.close();
    web?.db.close();
    await peer?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('logs in, sees the inbox sorted by SLA, replies with threading headers, changes department and logs out', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/.test(m.text())) errors.push(m.text());
    });
    await page.goto(`${base}/inbox`);
    expect(page.url()).toContain('/login');
    await page.fill('input[name=username]', 'lin');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/inbox/);
    const order = await page.$$eval('#conversations tbody tr', (rows) =>
      rows.map((r) => Number(r.getAttribute('data-id'))),
    );
    expect(order).toEqual([ids.breached, ids.risk, ids.later, ids.xss]);
    await page.screenshot({ path: path.join(ARTIFACTS, 'inbox.png'), fullPage: true });

    // Keyboard: j selects the first row, Enter opens it.
    await page.keyboard.press('j');
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`/c/${ids.breached}$`));

    await page.goto(`${base}/c/${ids.later}`);
    await page.fill('#reply-text', '您好，42 码还有货，');
    await page.focus('#reply-text');
    await page.keyboard.press('End');
    await page.selectOption('#canned-select', { label: 'Shipping today' });
    await page.click('#canned-insert');
    await page.click('#reply-preview-button');
    expect(await page.textContent('#reply-preview')).toBe('您好，42 码还有货，今天可以发出。');
    await page.click('#send-reply');
    await page.waitForSelector('#flash');
    const [mail] = await peer.waitFor(1);
    expect(mail?.raw).toMatch(/^In-Reply-To: <m\d+@example\.com>/m);
    expect(mail?.raw).toMatch(/^References: <m\d+@example\.com>/m);
    expect(replies).toEqual([
      { conversationId: ids.later, author: 'lin', text: '您好，42 码还有货，今天可以发出。' },
    ]);

    await page.selectOption('#department-select', 'customer_service');
    await page.click('#change-department');
    await page.waitForLoadState();
    expect(await page.textContent('#department')).toBe('Customer service');
    await page.screenshot({ path: path.join(ARTIFACTS, 'conversation.png'), fullPage: true });

    // A form post without the CSRF token is refused by the server.
    const status = await page.evaluate(async (id) => {
      const r = await fetch(`/c/${id}/close`, { method: 'POST', body: new URLSearchParams({ x: '1' }) });
      return r.status;
    }, ids.later);
    expect(status).toBe(403);

    await page.click('#logout');
    await page.waitForURL(/\/login/);
    await page.goto(`${base}/inbox`);
    expect(page.url()).toContain('/login');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('runs no script from a hostile subject, sender name, text, HTML body or attachment name', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/login`);
    await page.fill('input[name=username]', 'lin');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/inbox/);
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
    await page.goto(`${base}/c/${ids.xss}`);
    const frame = page.frameLocator('iframe.body');
    await frame.locator('p').first().waitFor();
    await page.click('.images a');
    await frame.locator('img').first().waitFor({ state: 'attached' });
    await page.waitForTimeout(300);
    const flags = await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss);
    expect(flags).toBeUndefined();
    for (const f of page.frames()) {
      expect(
        await f.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss).catch(() => undefined),
      ).toBeUndefined();
    }
    expect(await page.textContent('#subject')).toContain('<script>');
    await context.close();
  });
});
