import { describe, expect, it } from 'vitest';
import {
  cjkBigrams,
  type Db,
  isCjkTerm,
  listMigrations,
  migrate,
  openDatabase,
} from '../../src/store/index.ts';

/** The CJK pair index of migration 0016: what goes in it, and that it stays in step with messages. */

const cjkHits = (db: Db, match: string) =>
  db
    .prepare('SELECT rowid FROM messages_cjk WHERE messages_cjk MATCH ? ORDER BY rowid')
    .pluck()
    .all(match) as number[];

function conversation(db: Db): number {
  return Number(
    db
      .prepare(
        `INSERT INTO conversations (subject, department, urgency, status, created_at, last_message_at)
         VALUES ('x', 'finance', 'normal', 'open', 1, 1)`,
      )
      .run().lastInsertRowid,
  );
}

let seq = 0;
function insertMessage(db: Db, conv: number, subject: string, body: string | null, fromName?: string) {
  seq += 1;
  return Number(
    db
      .prepare(
        `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, subject, text_body, from_name,
           from_addr, received_at, flags, size)
         VALUES (?, 'in', ?, ?, ?, ?, ?, 'c@example.cn', 1, '[]', 10)`,
      )
      .run(conv, `m${seq}@x`, `k${seq}`, subject, body, fromName ?? null).lastInsertRowid,
  );
}

function integrityOk(db: Db) {
  db.prepare("INSERT INTO messages_cjk(messages_cjk, rank) VALUES ('integrity-check', 1)").run();
}

describe('cjk_bigrams', () => {
  it('writes the overlapping pairs of each CJK run and its last character; nothing else', () => {
    expect(cjkBigrams('申请退款')).toBe('申请 请退 退款 款');
    expect(cjkBigrams('退')).toBe('退');
    // Spaces, punctuation, Latin letters and digits end a run: no pair across them.
    expect(cjkBigrams('退 款')).toBe('退 款');
    expect(cjkBigrams('「退款」。訂單123號')).toBe('退款 款 訂單 單 號');
    expect(cjkBigrams('Refund for order 8812, please')).toBe('');
    // Each argument on its own: no pair across subject and body.
    expect(cjkBigrams('申请退', '款了', null, undefined)).toBe('申请 请退 退 款了 了');
    // Japanese (with the prolonged sound mark) and Korean; a character beyond the BMP is one character.
    expect(cjkBigrams('コーヒー')).toBe('コー ーヒ ヒー ー');
    expect(cjkBigrams('환불 요청')).toBe('환불 불 요청 청');
    expect(cjkBigrams('𠀀字')).toBe('𠀀字 字');
  });

  it('tells CJK-only terms from the rest', () => {
    for (const t of ['退款', '發票', '退', 'ー', '환불']) expect(isCjkTerm(t), t).toBe(true);
    for (const t of ['TV', 'A款', '退。', '。', '', '1号']) expect(isCjkTerm(t), t).toBe(false);
  });
});

describe('messages_cjk', () => {
  it('migration 0016 indexes the messages stored before it', () => {
    const db = openDatabase(':memory:');
    const all = listMigrations();
    migrate(
      db,
      all.filter((m) => m.version < 16),
    );
    const conv = conversation(db);
    const zh = insertMessage(db, conv, '申请退款', '货物破损', '王小明');
    insertMessage(db, conv, 'Refund please', 'The teapot broke');
    const tw = insertMessage(db, conv, 'Re: 發票', null);
    migrate(db, all);
    expect(cjkHits(db, '"退款"')).toEqual([zh]);
    expect(cjkHits(db, '"發票"')).toEqual([tw]);
    expect(cjkHits(db, '"小明"')).toEqual([zh]);
    expect(cjkHits(db, '"破"*')).toEqual([zh]);
    // English mail has no row at all.
    expect(db.prepare('SELECT count(*) FROM messages_cjk').pluck().get()).toBe(2);
    integrityOk(db);
  });

  it('the triggers keep it in step with inserts, updates and deletes outside ingest', () => {
    const db = openDatabase(':memory:');
    migrate(db);
    const conv = conversation(db);
    const a = insertMessage(db, conv, '订单查询', '请问物流到哪里了');
    const b = insertMessage(db, conv, 'Order', 'English only');
    expect(cjkHits(db, '"物流"')).toEqual([a]);
    db.prepare('UPDATE messages SET text_body = ? WHERE id = ?').run('已经收到了', a);
    expect(cjkHits(db, '"物流"')).toEqual([]);
    expect(cjkHits(db, '"收到"')).toEqual([a]);
    db.prepare('UPDATE messages SET subject = ? WHERE id = ?').run('申请发票', b);
    expect(cjkHits(db, '"发票"')).toEqual([b]);
    db.prepare('UPDATE messages SET from_name = ? WHERE id = ?').run('李娜', b);
    expect(cjkHits(db, '"李娜"')).toEqual([b]);
    // Columns the index does not read leave it alone.
    db.prepare('UPDATE messages SET flags = \'["x"]\' WHERE id = ?').run(b);
    expect(cjkHits(db, '"发票"')).toEqual([b]);
    db.prepare('UPDATE messages SET subject = ?, text_body = ? WHERE id = ?').run('Plain', 'text', a);
    expect(cjkHits(db, '"收到"')).toEqual([]);
    db.prepare('DELETE FROM messages WHERE id = ?').run(b);
    expect(cjkHits(db, '"发票"')).toEqual([]);
    expect(cjkHits(db, '"李"*')).toEqual([]);
    expect(db.prepare('SELECT count(*) FROM messages_cjk').pluck().get()).toBe(0);
    integrityOk(db);
  });
});
