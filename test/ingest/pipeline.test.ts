import { describe, expect, it } from 'vitest';
import type { StoredMessage } from '../../src/ingest/index.ts';
import { fixture, flagsOf, mail, messageRow, setup } from './helpers.ts';

const imap = (uid: number, account = 'shop') => ({
  kind: 'imap' as const,
  checkpoint: { account, mailbox: 'INBOX', uidValidity: '7', uid },
});

describe('dedupe: one stored message per real message', () => {
  it('the same Message-ID arriving again (re-poll, second account) is a duplicate, not a second row', async () => {
    const t = setup();
    const raw = mail({ 'Message-ID': '<order-1@customer.example>', Subject: 'Order 1' });
    const a = await t.pipeline.ingestRaw(raw, imap(1, 'shop'));
    const withReceived = Buffer.concat([Buffer.from('Received: from mx2 by x; Mon, 5 Jan 2026\r\n'), raw]);
    const b = await t.pipeline.ingestRaw(withReceived, imap(9, 'sales'));
    expect(a.status).toBe('stored');
    expect(b).toMatchObject({
      status: 'duplicate',
      messageId: a.messageId,
      conversationId: a.conversationId,
    });
    expect(t.db.prepare('SELECT count(*) n FROM messages').get()).toEqual({ n: 1 });
  });

  it('without a Message-ID, the same headers and body are one message; a different body is another', async () => {
    const t = setup();
    const m = (body: string) => mail({ Subject: 'no id', Date: 'Mon, 5 Jan 2026 10:00:00 +0000' }, body);
    const a = await t.pipeline.ingestRaw(fixture('no-message-id.eml'), { kind: 'import', file: 'a' });
    const b = await t.pipeline.ingestRaw(fixture('no-message-id.eml'), { kind: 'import', file: 'b' });
    const c = await t.pipeline.ingestRaw(m('one'), { kind: 'import', file: 'c' });
    const d = await t.pipeline.ingestRaw(m('two'), { kind: 'import', file: 'd' });
    expect([a.status, b.status, c.status, d.status]).toEqual(['stored', 'duplicate', 'stored', 'stored']);
    expect(messageRow(t.db, a.messageId).message_id).toMatch(/@shop\.example$/);
  });

  it('a duplicate still moves the IMAP checkpoint, in the same transaction', async () => {
    const t = setup();
    const raw = mail({ 'Message-ID': '<x@c.example>' });
    await t.pipeline.ingestRaw(raw, imap(3));
    await t.pipeline.ingestRaw(raw, imap(4));
    expect(t.db.prepare('SELECT uid_validity, last_uid FROM ingest_checkpoints').get()).toEqual({
      uid_validity: '7',
      last_uid: 4,
    });
    expect(t.db.prepare('SELECT uid, status FROM ingest_uids ORDER BY uid').all()).toEqual([
      { uid: 3, status: 'stored' },
      { uid: 4, status: 'duplicate' },
    ]);
  });
});

describe('threading into conversations', () => {
  it('a reply joins the conversation of the message it answers, by In-Reply-To or References', async () => {
    const t = setup();
    const first = await t.pipeline.ingestRaw(
      mail({ 'Message-ID': '<q1@c.example>', Subject: 'Stock?' }),
      imap(1),
    );
    const byIrt = await t.pipeline.ingestRaw(
      mail({ 'Message-ID': '<q2@c.example>', 'In-Reply-To': '<q1@c.example>', Subject: 'Re: Stock?' }),
      imap(2),
    );
    const byRefs = await t.pipeline.ingestRaw(
      mail({ 'Message-ID': '<q3@c.example>', References: '<unknown@x> <q2@c.example>', Subject: 'again' }),
      imap(3),
    );
    expect(byIrt.conversationId).toBe(first.conversationId);
    expect(byRefs.conversationId).toBe(first.conversationId);
  });

  it("a customer's reply to mail we sent joins that conversation and reopens it", async () => {
    const t = setup();
    const first = await t.pipeline.ingestRaw(mail({ 'Message-ID': '<a1@c.example>' }), imap(1));
    t.db
      .prepare(
        `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, received_at)
         VALUES (?, 'out', 'reply-1@shop.example', 'mid:reply-1@shop.example', 0)`,
      )
      .run(first.conversationId);
    t.db.prepare("UPDATE conversations SET status = 'waiting' WHERE id = ?").run(first.conversationId);
    const back = await t.pipeline.ingestRaw(
      mail({ 'Message-ID': '<a2@c.example>', 'In-Reply-To': '<reply-1@shop.example>' }),
      imap(2),
    );
    expect(back.conversationId).toBe(first.conversationId);
    expect(t.db.prepare('SELECT status FROM conversations WHERE id = ?').get(first.conversationId)).toEqual({
      status: 'open',
    });
  });

  it('a reply that arrives before the message it answers pulls the original into its conversation', async () => {
    const t = setup();
    const reply = await t.pipeline.ingestRaw(
      mail({ 'Message-ID': '<r2@c.example>', 'In-Reply-To': '<r1@c.example>', References: '<r1@c.example>' }),
      imap(1),
    );
    const original = await t.pipeline.ingestRaw(mail({ 'Message-ID': '<r1@c.example>' }), imap(2));
    expect(original.conversationId).toBe(reply.conversationId);
  });

  it('the [#MR-id] token in the subject threads mail whose client dropped References', async () => {
    const t = setup();
    const first = await t.pipeline.ingestRaw(mail({ 'Message-ID': '<t1@c.example>' }), imap(1));
    const tok = await t.pipeline.ingestRaw(
      mail({ 'Message-ID': '<t2@c.example>', Subject: `Re: your order [#MR-${first.conversationId}]` }),
      imap(2),
    );
    const unknown = await t.pipeline.ingestRaw(
      mail({ 'Message-ID': '<t3@c.example>', Subject: 'Re: [#MR-999999]' }),
      imap(3),
    );
    expect(tok.conversationId).toBe(first.conversationId);
    expect(unknown.conversationId).not.toBe(first.conversationId);
  });

  it('References only to messages we never saw, or the same subject, start a new conversation', async () => {
    const t = setup();
    const a = await t.pipeline.ingestRaw(mail({ 'Message-ID': '<s1@c.example>', Subject: 'Order' }), imap(1));
    const b = await t.pipeline.ingestRaw(
      mail({ 'Message-ID': '<s2@d.example>', Subject: 'Re: Order', References: '<never@seen.example>' }),
      imap(2),
    );
    expect(b.conversationId).not.toBe(a.conversationId);
  });

  it('a new conversation is linked to the customer, created on first contact from the From address', async () => {
    const t = setup();
    const a = await t.pipeline.ingestRaw(
      mail({ From: '"Alice A" <Alice@Customer.Example>', 'Message-ID': '<c1@c.example>' }),
      imap(1),
    );
    const b = await t.pipeline.ingestRaw(
      mail({ From: 'alice@customer.example', 'Message-ID': '<c2@c.example>' }),
      imap(2),
    );
    const convs = t.db
      .prepare(
        'SELECT c.id, cu.email, cu.name FROM conversations c JOIN customers cu ON cu.id = c.customer_id',
      )
      .all();
    expect(convs).toEqual([
      { id: a.conversationId, email: 'alice@customer.example', name: 'Alice A' },
      { id: b.conversationId, email: 'alice@customer.example', name: 'Alice A' },
    ]);
  });

  it('mail a colleague forwards is filed under the original customer, not the colleague', async () => {
    const t = setup();
    const fwd = mail(
      { From: 'sales@shop.example', 'Message-ID': '<f1@shop.example>', Subject: 'Fwd: price list' },
      '---------- Forwarded message ---------\r\nFrom: Bob Buyer <bob@buyer.example>\r\nSubject: price list\r\n\r\nHow much?',
    );
    const r = await t.pipeline.ingestRaw(fwd, imap(1));
    const c = t.db
      .prepare(
        'SELECT cu.email FROM conversations c JOIN customers cu ON cu.id = c.customer_id WHERE c.id = ?',
      )
      .get(r.conversationId);
    expect(c).toEqual({ email: 'bob@buyer.example' });
  });
});

describe('hooks for rules and SLA', () => {
  it('classify sets department and urgency of a new conversation; afterStoreTx and afterCommit see the message', async () => {
    const seen: StoredMessage[] = [];
    const committed: number[] = [];
    const t = setup({
      hooks: {
        classify: (i) =>
          i.subject.includes('退款') ? { department: 'finance', urgency: 'urgent', tags: ['refund'] } : null,
        afterStoreTx: (s) => {
          seen.push(s);
        },
        afterCommit: async (s) => {
          committed.push(s.id);
          throw new Error('side effect failed');
        },
      },
    });
    const r = await t.pipeline.ingestRaw(fixture('gbk-quoted-printable.eml'), imap(1));
    const plain = await t.pipeline.ingestRaw(mail({ 'Message-ID': '<p@c.example>' }), imap(2));
    expect(
      t.db.prepare('SELECT department, urgency, tags FROM conversations WHERE id = ?').get(r.conversationId),
    ).toEqual({
      department: 'finance',
      urgency: 'urgent',
      tags: '["refund"]',
    });
    expect(
      t.db.prepare('SELECT department, urgency FROM conversations WHERE id = ?').get(plain.conversationId),
    ).toEqual({
      department: 'customer_service',
      urgency: 'normal',
    });
    expect(seen[0]).toMatchObject({
      from: 'customer@example.cn',
      subject: '退款申请',
      to: ['support@shop.example'],
      isNewConversation: true,
      headers: expect.objectContaining({ 'message-id': ['<gbk-qp-1@example.cn>'] }),
    });
    expect(committed).toEqual([r.messageId, plain.messageId]);
  });

  it('a throwing afterStoreTx rolls back the message and the checkpoint together', async () => {
    const t = setup({
      hooks: {
        afterStoreTx: () => {
          throw new Error('sla write failed');
        },
      },
    });
    await expect(t.pipeline.ingestRaw(mail({ 'Message-ID': '<rb@c.example>' }), imap(5))).rejects.toThrow(
      'sla',
    );
    expect(t.db.prepare('SELECT count(*) n FROM messages').get()).toEqual({ n: 0 });
    expect(t.db.prepare('SELECT count(*) n FROM ingest_checkpoints').get()).toEqual({ n: 0 });
  });
});

describe('mail that cannot be fully read is still kept', () => {
  it('an over-size message is stored as headers plus the oversize flag', async () => {
    const t = setup({ config: { imap: { max_message_bytes: 1000 } } });
    const r = await t.pipeline.ingestRaw(
      mail({ 'Message-ID': '<huge@c.example>', Subject: 'huge' }, 'x'.repeat(5000)),
      imap(1),
    );
    const row = messageRow(t.db, r.messageId);
    expect(row.subject).toBe('huge');
    expect(row.text_body).toBeNull();
    expect(flagsOf(t.db, r.messageId)).toContain('oversize');
  });

  it('a message the MIME parser gives up on is stored raw with parse_error, and the next one goes through', async () => {
    const t = setup();
    const parts = Array.from(
      { length: 1100 },
      (_, i) => `--P\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`,
    ).join('');
    const bad = mail(
      {
        'Message-ID': '<bad@c.example>',
        Subject: 'many parts',
        'MIME-Version': '1.0',
        'Content-Type': 'multipart/mixed; boundary="P"',
      },
      `${parts}--P--`,
    );
    const r = await t.pipeline.ingestRaw(bad, imap(1));
    expect(flagsOf(t.db, r.messageId)).toContain('parse_error');
    expect(messageRow(t.db, r.messageId).subject).toBe('many parts');
    expect((await t.blobs.readRaw(messageRow(t.db, r.messageId).raw_sha256)).equals(bad)).toBe(true);
    const next = await t.pipeline.ingestRaw(mail({ 'Message-ID': '<next@c.example>' }), imap(2));
    expect(next.status).toBe('stored');
  });

  it('reprocess parses a stored message again from its raw copy', async () => {
    const t = setup();
    const r = await t.pipeline.ingestRaw(fixture('8bit-headers-gbk.eml'), imap(1));
    t.db.prepare("UPDATE messages SET subject = 'garbled', flags = '[]' WHERE id = ?").run(r.messageId);
    await t.pipeline.reprocess(r.messageId);
    expect(messageRow(t.db, r.messageId).subject).toBe('发票和退款问题');
  });
});

describe('the language a customer writes in', () => {
  const customerLocale = (t: ReturnType<typeof setup>, email: string) =>
    (t.db.prepare('SELECT locale FROM customers WHERE email = ?').get(email) as { locale: string | null })
      .locale;

  it('is taken from the script of their first mail, so replies come in Simplified or Traditional', async () => {
    const t = setup();
    await t.pipeline.ingestRaw(
      mail(
        { 'Content-Type': 'text/plain; charset=utf-8', From: 'wang@customer.example', Subject: '请问发票' },
        '您好，请帮我开具订单 10388 的发票，谢谢。',
      ),
      { kind: 'import', file: 'a' },
    );
    await t.pipeline.ingestRaw(
      mail(
        { 'Content-Type': 'text/plain; charset=utf-8', From: 'chen@customer.example', Subject: '請問發票' },
        '您好，請幫我開立訂單 10388 的發票，謝謝。',
      ),
      { kind: 'import', file: 'b' },
    );
    await t.pipeline.ingestRaw(
      mail(
        { 'Content-Type': 'text/plain; charset=utf-8', From: 'ann@customer.example', Subject: 'Invoice' },
        'Hello, an invoice please.',
      ),
      {
        kind: 'import',
        file: 'c',
      },
    );
    expect(customerLocale(t, 'wang@customer.example')).toBe('zh-CN');
    expect(customerLocale(t, 'chen@customer.example')).toBe('zh-TW');
    expect(customerLocale(t, 'ann@customer.example')).toBeNull();
  });

  it('keeps a declared Content-Language and never overwrites a locale already known', async () => {
    const t = setup();
    await t.pipeline.ingestRaw(
      mail(
        {
          'Content-Type': 'text/plain; charset=utf-8',
          From: 'lee@customer.example',
          'Content-Language': 'zh-HK',
          Subject: 'Parcel',
        },
        'Where is it?',
      ),
      { kind: 'import', file: 'a' },
    );
    await t.pipeline.ingestRaw(
      mail(
        { 'Content-Type': 'text/plain; charset=utf-8', From: 'lee@customer.example', Subject: '包裹' },
        '您好，我的包裹到哪里了？请尽快回复。',
      ),
      { kind: 'import', file: 'b' },
    );
    expect(customerLocale(t, 'lee@customer.example')).toBe('zh-TW');
  });
});
