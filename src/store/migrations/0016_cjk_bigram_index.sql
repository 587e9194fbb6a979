-- Search for 1- and 2-character Chinese, Japanese and Korean terms. Most Chinese words are two
-- characters (退款, 发票, 订单), which the trigram index of 0007 cannot match: they fell back to LIKE
-- over every message (about a second at 1,000,000 messages).
--
-- messages_cjk holds, per message id, the overlapping character pairs of every run of CJK
-- characters in the subject, text body and sender, plus each run's last character ("申请退款" ->
-- "申请 请退 退款 款"), written by mailroom's SQL function cjk_bigrams (src/store/cjk.ts), which every
-- connection opened by mailroom registers. A 2-character term is the word '"退款"'; a 1-character
-- term the prefix query '"退"*', answered by the one-character prefix index. Non-CJK text is not in
-- it, and messages without CJK text have no row.
--
-- tokenize = 'ascii': the words are only CJK characters and spaces, and the ascii tokenizer splits
-- at the spaces and keeps every non-ASCII character, without depending on the Unicode tables of the
-- SQLite build. detail = 'none': a word is the whole term, so no positions are needed. Contentless
-- (the words are not stored again) with contentless_delete, so a row is deleted by its id without
-- recomputing its words.
CREATE VIRTUAL TABLE messages_cjk USING fts5(
  grams,
  tokenize = 'ascii', prefix = '1', detail = 'none', content = '', contentless_delete = 1
);

-- The LIMIT in the subqueries keeps SQLite from flattening them, which would call cjk_bigrams twice
-- (once for the WHERE, once for the value).
--
-- Kept in step like messages_fts (0015): an ingest batch indexes its own messages at its end
-- (src/ingest/pipeline.ts), every other writer through these triggers.
CREATE TRIGGER messages_cjk_ai AFTER INSERT ON messages
WHEN NOT EXISTS (SELECT 1 FROM fts_deferred WHERE new.id > after_id) BEGIN
  INSERT INTO messages_cjk(rowid, grams)
  SELECT new.id, g FROM (SELECT cjk_bigrams(new.subject, new.text_body, new.from_name, new.from_addr) AS g LIMIT 1)
  WHERE g != '';
END;

CREATE TRIGGER messages_cjk_ad AFTER DELETE ON messages
WHEN NOT EXISTS (SELECT 1 FROM fts_deferred WHERE old.id > after_id) BEGIN
  DELETE FROM messages_cjk WHERE rowid = old.id;
END;

CREATE TRIGGER messages_cjk_au AFTER UPDATE OF subject, text_body, from_name, from_addr ON messages
WHEN NOT EXISTS (SELECT 1 FROM fts_deferred WHERE old.id > after_id) BEGIN
  DELETE FROM messages_cjk WHERE rowid = old.id;
  INSERT INTO messages_cjk(rowid, grams)
  SELECT new.id, g FROM (SELECT cjk_bigrams(new.subject, new.text_body, new.from_name, new.from_addr) AS g LIMIT 1)
  WHERE g != '';
END;

-- Messages stored before this migration.
INSERT INTO messages_cjk(rowid, grams)
SELECT id, g FROM (SELECT id, cjk_bigrams(subject, text_body, from_name, from_addr) AS g FROM messages
                   ORDER BY id LIMIT -1)
WHERE g != '';
