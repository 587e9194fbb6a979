import { describe, expect, it } from 'vitest';
import { eraseEverything } from '../../src/app/data-rights.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { type Db, listMigrations, migrate, openDatabase } from '../../src/store/index.ts';
import type { StaffUser } from '../../src/web/auth/users.ts';
import { detectFeatures, type InboxFilter, queryInbox } from '../../src/web/inbox/query.ts';
import { mail, setup } from '../ingest/helpers.ts';

/**
 * Search by 1-2 character Chinese terms: looked up in the CJK pair index (migration 0016), AND-ed
 * with the other terms, for mail stored through the real ingest pipeline (its batch path indexes the
 * batch in one statement) and kept in step when a message is redacted or deleted.
 */

const admin: StaffUser = { id: 1, username: 'admin', role: 'admin', departments: [], locale: 'zh-CN' };
const NOW = Date.UTC(2026, 0, 5, 12);

function subjects(db: Db, q: string, status = 'all'): string[] {
  const filter: InboxFilter = { view: 'all', status, urgency: '', assignee: '', tag: '', q, page: 0 };
  return queryInbox(db, detectFeatures(db), admin, filter, NOW)
    .rows.map((r) => r.subject)
    .sort();
}

const utf8 = { 'Content-Type': 'text/plain; charset=utf-8' };
const source = (uid: number) => ({
  kind: 'imap' as const,
  checkpoint: { account: 'shop', mailbox: 'INBOX', uidValidity: '7', uid },
});

async function store() {
  const t = setup();
  const messages: Array<[Record<string, string>, string]> = [
    [
      { Subject: '申请退款', From: '王小明 <xm@example.cn>', 'Message-ID': '<a@example.cn>' },
      '订单 8812 的货物破损，请尽快处理。',
    ],
    [
      { Subject: '請開立發票', From: '陳大文 <dw@example.tw>', 'Message-ID': '<b@example.tw>' },
      '謝謝你們的茶壺。',
    ],
    [
      {
        Subject: 'Refund for my teapot',
        From: 'Emma Hall <emma@example.com>',
        'Message-ID': '<c@example.com>',
      },
      'The teapot arrived broken: 退货 please.',
    ],
    [
      { Subject: '物流查询', From: 'Li Na <ln@example.cn>', 'Message-ID': '<d@example.cn>' },
      '我想申请退 款的事情以后再说。',
    ],
    [{ Subject: 'TV stand question', From: 'Ben <ben@example.com>', 'Message-ID': '<e@example.com>' }, 'Hi.'],
  ];
  const results = await t.pipeline.ingestMany(
    messages.map(([h, body], i) => ({ raw: mail({ ...utf8, ...h }, body), source: source(i + 1) })),
  );
  expect(results.map((r) => r.status)).toEqual(messages.map(() => 'stored'));
  return t;
}

describe('search by 1-2 character Chinese terms', () => {
  it('finds mail ingested by a pipeline batch by a 2-character Simplified or Traditional word and by 1 character', async () => {
    const { db } = await store();
    expect(db.prepare('SELECT count(*) FROM fts_deferred').pluck().get()).toBe(0);
    expect(subjects(db, '退款')).toEqual(['申请退款']);
    expect(subjects(db, '發票')).toEqual(['請開立發票']);
    // Simplified and Traditional are different characters: no folding, as with LIKE.
    expect(subjects(db, '发票')).toEqual([]);
    // One character: in the middle or at the end of a word, in any message.
    expect(subjects(db, '退')).toEqual(['Refund for my teapot', '物流查询', '申请退款']);
    expect(subjects(db, '壺')).toEqual(['請開立發票']);
    // The sender's name is searched too.
    expect(subjects(db, '小明')).toEqual(['申请退款']);
    // Active conversations (the default view) give the same answers.
    expect(subjects(db, '退款', 'active')).toEqual(['申请退款']);
    // The answers come from the pair index, not from reading the text: without its row, not found.
    db.prepare(
      "DELETE FROM messages_cjk WHERE rowid = (SELECT id FROM messages WHERE message_id = 'a@example.cn')",
    ).run();
    expect(subjects(db, '退款')).toEqual([]);
    expect(subjects(db, '退款', 'active')).toEqual([]);
  });

  it('AND-s a Chinese word with the other terms, across subject and body', async () => {
    const { db } = await store();
    // 退货 is in the body, teapot in the subject and body, Refund in the subject.
    expect(subjects(db, '退货 teapot')).toEqual(['Refund for my teapot']);
    expect(subjects(db, 'Refund 退货')).toEqual(['Refund for my teapot']);
    expect(subjects(db, '退款 teapot')).toEqual([]);
    // Subject (申请退款) and body (破损) of one message.
    expect(subjects(db, '退款 破损')).toEqual(['申请退款']);
    expect(subjects(db, '退款 發票')).toEqual([]);
    // With a 3+ character term on the trigram index.
    expect(subjects(db, '退款 货物破损')).toEqual(['申请退款']);
  });

  it('does not match a pair that only exists across a space, punctuation or the subject/body boundary', async () => {
    const { db } = await store();
    // "申请退 款" (a space between) is in 物流查询; only 申请退款 has 退款.
    expect(subjects(db, '退款')).not.toContain('物流查询');
    // 申请退款 (subject) + 订单 (body): 款订 is not a word of it.
    expect(subjects(db, '款订')).toEqual([]);
    // 處理。 ends a sentence; 理謝 does not exist.
    expect(subjects(db, '理謝')).toEqual([]);
  });

  it('keeps LIKE for other short terms, alone or with a Chinese word', async () => {
    const { db } = await store();
    expect(subjects(db, 'TV')).toEqual(['TV stand question']);
    expect(subjects(db, 'TV', 'active')).toEqual(['TV stand question']);
    expect(subjects(db, 'A款')).toEqual([]);
    expect(subjects(db, '88 退款')).toEqual(['申请退款']);
    expect(subjects(db, '99 退款')).toEqual([]);
  });

  it('a message redacted by an erase is no longer found by its words; one deleted is not found at all', async () => {
    const t = await store();
    // Bob's mail names Wang Xiaoming and his address: it stays, redacted.
    const [bob] = await t.pipeline.ingestMany([
      {
        raw: mail(
          { ...utf8, Subject: '朋友的订单', From: 'Bob <bob@example.net>', 'Message-ID': '<f@example.net>' },
          '我的朋友王小明 xm@example.cn 也想退款。',
        ),
        source: source(10),
      },
    ]);
    expect(subjects(t.db, '小明')).toEqual(['朋友的订单', '申请退款']);
    const report = eraseEverything(
      { db: t.db, clock: t.clock, logger: silentLogger(), blobs: null },
      'xm@example.cn',
    );
    expect(report.messagesRedacted).toBe(1);
    expect(report.messagesDeleted).toBe(1);
    expect(
      t.db.prepare('SELECT text_body FROM messages WHERE id = ?').pluck().get(bob?.messageId),
    ).not.toContain('小明');
    for (const q of ['小明', '王小', '小']) expect(subjects(t.db, q), q).toEqual([]);
    // The rest of Bob's words are still found; her own message (申请退款) is gone.
    expect(subjects(t.db, '退款')).toEqual(['朋友的订单']);
    expect(subjects(t.db, '破损')).toEqual([]);
    t.db.prepare("INSERT INTO messages_cjk(messages_cjk, rank) VALUES ('integrity-check', 1)").run();
  });

  it('reprocessing a message re-indexes it', async () => {
    const t = await store();
    const id = t.db
      .prepare("SELECT id FROM messages WHERE message_id = 'a@example.cn'")
      .pluck()
      .get() as number;
    t.db.prepare('UPDATE messages SET subject = ?, text_body = ? WHERE id = ?').run('改过', '无', id);
    expect(subjects(t.db, '退款')).toEqual([]);
    await t.pipeline.reprocess(id);
    expect(subjects(t.db, '退款')).toEqual(['申请退款']);
    expect(subjects(t.db, '改过')).toEqual([]);
  });

  it('falls back to LIKE on a store from before the pair index', () => {
    const db = openDatabase(':memory:');
    migrate(
      db,
      listMigrations().filter((m) => m.version < 16),
    );
    db.prepare(
      `INSERT INTO conversations (subject, department, urgency, status, created_at, last_message_at)
       VALUES ('申请退款', 'finance', 'normal', 'open', 1, 1)`,
    ).run();
    db.prepare(
      `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, subject, text_body, received_at, flags, size)
       VALUES (1, 'in', 'x@x', 'x', '申请退款', '', 1, '[]', 1)`,
    ).run();
    expect(detectFeatures(db).cjkIndex).toBe(false);
    expect(subjects(db, '退款')).toEqual(['申请退款']);
    expect(subjects(db, '退')).toEqual(['申请退款']);
  });
});

describe('search of active conversations by a common Chinese word', () => {
  it('asks each active conversation when the word is in more messages than the threshold', () => {
    const db = openDatabase(':memory:');
    migrate(db);
    const conv = (subject: string, status: string) =>
      Number(
        db
          .prepare(
            `INSERT INTO conversations (subject, department, urgency, status, created_at, last_message_at)
             VALUES (?, 'finance', 'normal', ?, 1, 1)`,
          )
          .run(subject, status).lastInsertRowid,
      );
    const msg = db.prepare(
      `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, subject, text_body, received_at, flags, size)
       VALUES (?, 'in', ?, ?, ?, ?, 1, '[]', 1)`,
    );
    const closed = conv('旧的退款', 'closed');
    db.transaction(() => {
      for (let i = 0; i < 6000; i++) msg.run(closed, `c${i}`, `c${i}`, '旧的退款', '请退款');
    })();
    const open = conv('新的退款', 'open');
    msg.run(open, 'o1', 'o1', 'hello', '我要退款');
    const other = conv('别的', 'open');
    msg.run(other, 'o2', 'o2', 'hello', '发票');
    expect(subjects(db, '退款', 'active')).toEqual(['新的退款']);
    expect(subjects(db, '退', 'active')).toEqual(['新的退款']);
    expect(subjects(db, '退款 hello', 'active')).toEqual(['新的退款']);
    expect(subjects(db, '退款 发票', 'active')).toEqual([]);
    expect(subjects(db, '退款', 'all')).toEqual(['新的退款', '旧的退款']);
    expect(subjects(db, '退款', 'closed')).toEqual(['旧的退款']);
  });
});
