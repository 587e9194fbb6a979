import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/index.ts';
import { mail, setup } from './helpers.ts';

/**
 * Ingest writes the search index once per batch (migration 0015); every other writer is indexed
 * row by row by the triggers, as before. Either way the index matches the messages table.
 */

const imap = (uid: number) => ({
  kind: 'imap' as const,
  checkpoint: { account: 'shop', mailbox: 'INBOX', uidValidity: '7', uid },
});

const hits = (db: Db, q: string) =>
  (
    db.prepare('SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid').all(q) as Array<{
      rowid: number;
    }>
  ).map((r) => r.rowid);

function integrityOk(db: Db) {
  // Throws SQLITE_CORRUPT_VTAB when the index and the messages differ.
  db.prepare("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)").run();
}

function insertOutbound(db: Db, conversationId: number, subject: string, body: string): number {
  return Number(
    db
      .prepare(
        `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, subject, text_body,
           from_addr, received_at, flags, size)
         VALUES (?, 'out', ?, ?, ?, ?, 'support@shop.example', 1, '[]', 10)`,
      )
      .run(conversationId, `${subject}@shop.example`, `out:${subject}`, subject, body).lastInsertRowid,
  );
}

describe('search index of ingested mail', () => {
  it('every message of a batch is found once the batch is stored, and nothing is left deferred', async () => {
    const t = setup();
    const items = Array.from({ length: 120 }, (_, i) => ({
      raw: mail(
        {
          'Message-ID': `<s${i}@c.example>`,
          Subject: `Parcel ${i} 请退款`,
          From: `Buyer ${i} <b${i}@c.example>`,
        },
        `Where is order zq${String(i).padStart(4, '0')}?`,
      ),
      source: imap(i + 1),
    }));
    const results = await t.pipeline.ingestMany(items);
    expect(results.every((r) => r.status === 'stored')).toBe(true);
    for (const [i, r] of results.entries()) {
      expect(hits(t.db, `"zq${String(i).padStart(4, '0')}"`)).toEqual([r.messageId]);
      expect(hits(t.db, `"b${i}@c.example"`)).toEqual([r.messageId]);
    }
    expect(hits(t.db, '"请退款"')).toHaveLength(120);
    expect(t.db.prepare('SELECT count(*) n FROM fts_deferred').get()).toEqual({ n: 0 });
    integrityOk(t.db);
  });

  it('a message that fails in the middle of a batch is not indexed; the ones before it are', async () => {
    let n = 0;
    const t = setup({
      hooks: {
        afterStoreTx: () => {
          if (++n === 3) throw new Error('sla write failed');
        },
      },
    });
    const items = Array.from({ length: 5 }, (_, i) => ({
      raw: mail({ 'Message-ID': `<f${i}@c.example>`, Subject: `Failing batch ${i}` }, `token fx${i}x`),
      source: imap(i + 1),
    }));
    await expect(t.pipeline.ingestMany(items)).rejects.toThrow('sla');
    const stored = t.db.prepare('SELECT id FROM messages ORDER BY id').all() as Array<{ id: number }>;
    expect(stored).toHaveLength(2);
    expect(hits(t.db, '"Failing batch"')).toEqual(stored.map((r) => r.id));
    expect(hits(t.db, '"fx2x"')).toEqual([]);
    expect(t.db.prepare('SELECT count(*) n FROM fts_deferred').get()).toEqual({ n: 0 });
    integrityOk(t.db);
  });

  it('writers outside ingest are indexed by the triggers: insert, update, reprocess and delete', async () => {
    const t = setup();
    const [a] = await t.pipeline.ingestMany([
      {
        raw: mail({ 'Message-ID': '<u1@c.example>', Subject: 'Original subject' }, 'first words'),
        source: imap(1),
      },
    ]);
    if (!a) throw new Error('not stored');
    const out = insertOutbound(t.db, a.conversationId, 'Reply subject', 'our answer mentions qq77');
    expect(hits(t.db, '"qq77"')).toEqual([out]);
    t.db.prepare('UPDATE messages SET subject = ? WHERE id = ?').run('Changed heading', a.messageId);
    expect(hits(t.db, '"Changed heading"')).toEqual([a.messageId]);
    expect(hits(t.db, '"Original subject"')).toEqual([]);
    await t.pipeline.reprocess(a.messageId);
    expect(hits(t.db, '"Original subject"')).toEqual([a.messageId]);
    t.db.prepare('DELETE FROM messages WHERE id = ?').run(out);
    expect(hits(t.db, '"qq77"')).toEqual([]);
    integrityOk(t.db);
  });
});
