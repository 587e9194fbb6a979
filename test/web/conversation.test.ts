import { afterEach, describe, expect, it } from 'vitest';
import { createBlobStore } from '../../src/ingest/index.ts';
import type { CorrectionInput, ReplyInput, WebDeps } from '../../src/web/index.ts';
import { addUser, HOUR, login, makeWeb, NOW, postForm, seedConversation, type TestWeb } from './helpers.ts';

let web: TestWeb | undefined;
afterEach(async () => {
  await web?.app.close();
  web?.db.close();
  web = undefined;
});

async function setup(extra: Partial<WebDeps> = {}) {
  web = await makeWeb(extra);
  await addUser(web.db, 'admin', 'admin');
  await addUser(web.db, 'sam', 'agent', ['sales']);
  return { web, admin: await login(web.app, 'admin') };
}

const EVIL_HTML = `<p onclick="alert(1)">Hi<script>window.pwned=1</script></p>
<img src="https://tracker.example/pixel.gif" onerror="window.pwned=2">
<a href="javascript:alert(3)">click</a><form action="https://evil.example"><input name="x"></form>
<style>body{display:none}</style><iframe src="https://evil.example"></iframe><svg onload="alert(4)"></svg>
<img src="data:image/png;base64,iVBORw0KGgo=">`;

describe('conversation page', () => {
  it('shows customer HTML sanitised in a sandboxed frame: no script, handlers, forms or styles; remote images held until asked', async () => {
    const { web, admin } = await setup();
    const { conversationId, messageId } = seedConversation(web.db, {
      department: 'sales',
      subject: 'html',
      html: EVIL_HTML,
    });
    const page = await web.app.inject({ url: `/c/${conversationId}`, headers: { cookie: admin.cookie } });
    expect(page.body).toMatch(
      /<iframe class="body"[^>]*sandbox="allow-popups allow-popups-to-escape-sandbox"/,
    );
    expect(page.body).not.toContain('allow-scripts');
    const frame = await web.app.inject({
      url: `/c/${conversationId}/m/${messageId}/body`,
      headers: { cookie: admin.cookie },
    });
    expect(frame.statusCode).toBe(200);
    const body = frame.body;
    for (const bad of [
      '<script',
      'onclick',
      'onerror',
      'onload',
      'javascript:',
      '<form',
      '<iframe',
      'display:none',
      'pwned',
    ])
      expect(body, bad).not.toContain(bad);
    expect(body).toContain('data-src="https://tracker.example/pixel.gif"');
    expect(body).not.toMatch(/\ssrc="https:\/\/tracker/);
    expect(body).toContain('src="data:image/png;base64');
    expect(frame.headers['content-security-policy']).toContain("default-src 'none'");
    expect(frame.headers['content-security-policy']).not.toContain('https:');
    expect(frame.headers['x-frame-options']).toBe('SAMEORIGIN');
    const shown = await web.app.inject({
      url: `/c/${conversationId}/m/${messageId}/body?images=1`,
      headers: { cookie: admin.cookie },
    });
    expect(shown.body).toContain('src="https://tracker.example/pixel.gif"');
    expect(shown.body).not.toContain('onerror');
    expect(shown.headers['content-security-policy']).toContain('img-src data: https:');
  });

  it('escapes hostile subject, sender name and body text on the page', async () => {
    const { web, admin } = await setup();
    const { conversationId } = seedConversation(web.db, {
      department: 'sales',
      subject: '<img src=x onerror=alert(1)>',
      fromName: '"><script>alert(2)</script>',
      text: '</pre><script>alert(3)</script>',
    });
    const page = await web.app.inject({ url: `/c/${conversationId}`, headers: { cookie: admin.cookie } });
    expect(page.body).not.toContain('<img src=x');
    expect(page.body).not.toContain('<script>alert');
    expect(page.body).toContain('&lt;script&gt;alert(2)');
    const inbox = await web.app.inject({ url: '/inbox', headers: { cookie: admin.cookie } });
    expect(inbox.body).not.toContain('<img src=x');
  });

  it('sends a reply through sendReply with the author, and says so when replies are not wired', async () => {
    const sent: ReplyInput[] = [];
    const { web, admin } = await setup({
      sendReply: async (input) => {
        sent.push(input);
        return { outboxId: 7 };
      },
    });
    const { conversationId } = seedConversation(web.db, { department: 'sales', subject: 'Price?' });
    const res = await postForm(web.app, admin, `/c/${conversationId}/reply`, { text: 'It is 12 EUR.' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`/c/${conversationId}?sent=1`);
    expect(sent).toEqual([{ conversationId, author: 'admin', text: 'It is 12 EUR.' }]);

    await web.app.close();
    web.db.close();
    const bare = await setup();
    const c2 = seedConversation(bare.web.db, { department: 'sales', subject: 'Price?' });
    const page = await bare.web.app.inject({
      url: `/c/${c2.conversationId}`,
      headers: { cookie: bare.admin.cookie },
    });
    expect(page.body).toContain('id="reply-not-wired"');
    const refused = await postForm(bare.web.app, bare.admin, `/c/${c2.conversationId}/reply`, { text: 'x' });
    expect(decodeURIComponent(refused.headers.location as string)).toContain('not wired');
  });

  it('changes department and urgency, records each as a correction and on the timeline', async () => {
    const corrections: CorrectionInput[] = [];
    const { web, admin } = await setup({ onCorrection: (c) => void corrections.push(c) });
    const { conversationId } = seedConversation(web.db, { department: 'sales', subject: 'Refund please' });
    expect(
      (await postForm(web.app, admin, `/c/${conversationId}/department`, { department: 'finance' }))
        .statusCode,
    ).toBe(303);
    expect(
      (await postForm(web.app, admin, `/c/${conversationId}/urgency`, { urgency: 'urgent' })).statusCode,
    ).toBe(303);
    expect(
      (await postForm(web.app, admin, `/c/${conversationId}/department`, { department: 'nope' })).headers
        .location,
    ).toMatch(/error=/);
    expect(corrections).toEqual([
      { conversationId, field: 'department', from: 'sales', to: 'finance', user: 'admin' },
      { conversationId, field: 'urgency', from: 'normal', to: 'urgent', user: 'admin' },
    ]);
    const row = web.db
      .prepare('SELECT department, urgency FROM conversations WHERE id = ?')
      .get(conversationId);
    expect(row).toEqual({ department: 'finance', urgency: 'urgent' });
    const page = await web.app.inject({ url: `/c/${conversationId}`, headers: { cookie: admin.cookie } });
    expect(page.body).toContain('admin: department');
  });

  it('assigns only to someone who can open the conversation, and offers only them', async () => {
    const { web, admin } = await setup();
    await addUser(web.db, 'fay', 'agent', ['finance']);
    await addUser(web.db, 'mia', 'marketer');
    const { conversationId } = seedConversation(web.db, { department: 'sales', subject: 'stock?' });
    const page = await web.app.inject({ url: `/c/${conversationId}`, headers: { cookie: admin.cookie } });
    const offered = [...page.body.matchAll(/<option value="([a-z]+)"[^>]*>\1<\/option>/g)].map((m) => m[1]);
    expect(offered).toEqual(expect.arrayContaining(['admin', 'sam']));
    expect(offered).not.toContain('fay');
    expect(offered).not.toContain('mia');
    for (const who of ['fay', 'mia']) {
      const res = await postForm(web.app, admin, `/c/${conversationId}/assign`, { assignee: who });
      expect(decodeURIComponent(res.headers.location as string)).toContain(
        `${who} cannot open sales conversations`,
      );
    }
    await postForm(web.app, admin, `/c/${conversationId}/assign`, { assignee: 'sam' });
    const row = web.db.prepare('SELECT assignee FROM conversations WHERE id = ?').get(conversationId);
    expect(row).toEqual({ assignee: 'sam' });
  });

  it('assigns, notes, snoozes, closes, reopens and merges', async () => {
    const { web, admin } = await setup();
    const a = seedConversation(web.db, { department: 'sales', subject: 'first' });
    const b = seedConversation(web.db, { department: 'sales', subject: 'second' });
    await postForm(web.app, admin, `/c/${a.conversationId}/assign`, { assignee: 'sam' });
    await postForm(web.app, admin, `/c/${a.conversationId}/note`, { body: 'VIP, call back <b>today</b>' });
    const snooze = await postForm(web.app, admin, `/c/${a.conversationId}/snooze`, {
      until: '2026-01-05T20:00',
    });
    expect(snooze.statusCode).toBe(303);
    let row = web.db
      .prepare('SELECT assignee, status, snoozed_until FROM conversations WHERE id = ?')
      .get(a.conversationId);
    expect(row).toEqual({ assignee: 'sam', status: 'snoozed', snoozed_until: Date.UTC(2026, 0, 5, 20) });
    const inbox = await web.app.inject({ url: '/inbox', headers: { cookie: admin.cookie } });
    expect(inbox.body).not.toContain('>first<');
    web.clock.set(Date.UTC(2026, 0, 5, 21));
    expect((await web.app.inject({ url: '/inbox', headers: { cookie: admin.cookie } })).body).toContain(
      '>first<',
    );
    await postForm(web.app, admin, `/c/${a.conversationId}/close`, {});
    await postForm(web.app, admin, `/c/${a.conversationId}/reopen`, {});
    row = web.db.prepare('SELECT status FROM conversations WHERE id = ?').get(a.conversationId);
    expect(row).toEqual({ status: 'open' });
    await postForm(web.app, admin, `/c/${a.conversationId}/merge`, { source: `#${b.conversationId}` });
    const page = await web.app.inject({ url: `/c/${a.conversationId}`, headers: { cookie: admin.cookie } });
    expect(page.body.match(/<article class="msg/g)).toHaveLength(2);
    expect(page.body).toContain('VIP, call back &lt;b&gt;today&lt;/b&gt;');
    expect(
      web.db.prepare('SELECT status, linked_to FROM conversations WHERE id = ?').get(b.conversationId),
    ).toEqual({
      status: 'closed',
      linked_to: a.conversationId,
    });
  });

  it('lets an agent act only inside their departments', async () => {
    const { web } = await setup();
    const other = seedConversation(web.db, { department: 'finance', subject: 'Invoice' });
    const own = seedConversation(web.db, { department: 'sales', subject: 'Quote' });
    const sam = await login(web.app, 'sam');
    expect((await postForm(web.app, sam, `/c/${other.conversationId}/close`, {})).statusCode).toBe(404);
    expect(
      (
        await postForm(web.app, sam, `/c/${own.conversationId}/merge`, {
          source: String(other.conversationId),
        })
      ).statusCode,
    ).toBe(404);
    expect(web.db.prepare('SELECT status FROM conversations WHERE id = ?').get(other.conversationId)).toEqual(
      { status: 'open' },
    );
  });

  it('downloads attachments from the blob store with a safe file name, only for visible conversations', async () => {
    const { web, admin } = await setup();
    const { conversationId, messageId } = seedConversation(web.db, {
      department: 'finance',
      subject: 'invoice',
    });
    // Stored by the blob store itself, as ingest stores attachments (the route once looked only in
    // the store's first directory layout, so every attachment stored since was a 404).
    const data = Buffer.from('%PDF-1.4 test');
    const sha = (await createBlobStore(web.config.paths.blobDir).putFile(data)).sha256;
    const att = web.db
      .prepare(
        'INSERT INTO attachments (message_id, sha256, filename, content_type, size) VALUES (?, ?, ?, ?, ?)',
      )
      .run(messageId, sha, '发票"\r\nX-Evil: 1.html', 'text/html', data.length);
    const id = Number(att.lastInsertRowid);
    const page = await web.app.inject({ url: `/c/${conversationId}`, headers: { cookie: admin.cookie } });
    expect(page.body).toContain(`/attachments/${id}`);
    const res = await web.app.inject({ url: `/attachments/${id}`, headers: { cookie: admin.cookie } });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.equals(data)).toBe(true);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.headers['content-disposition']).toMatch(
      /^attachment; filename="[^"\r\n]*"; filename\*=UTF-8''/,
    );
    expect(res.headers['x-evil']).toBeUndefined();
    const sam = await login(web.app, 'sam');
    expect(
      (await web.app.inject({ url: `/attachments/${id}`, headers: { cookie: sam.cookie } })).statusCode,
    ).toBe(404);
  });

  it('shows the SLA clock and the rule explanation', async () => {
    const { web, admin } = await setup();
    const { conversationId, messageId } = seedConversation(web.db, {
      department: 'finance',
      subject: '退款',
      dueIn: 3 * HOUR,
    });
    web.db
      .prepare(
        `INSERT INTO rule_decisions (message_id, conversation_id, department, urgency, rules, explanation, decided_at)
         VALUES (?, ?, 'finance', 'normal', '["refunds"]', ?, ?)`,
      )
      .run(messageId, conversationId, JSON.stringify(['rule refunds matched: subject contains 退款']), NOW);
    const page = await web.app.inject({ url: `/c/${conversationId}`, headers: { cookie: admin.cookie } });
    expect(page.body).toContain('rule refunds matched: subject contains 退款');
    expect(page.body).toContain('2026-01-05 15:00 UTC');
  });
});
