-- Search index written once per ingest batch instead of once per message. FTS5 writes its pending
-- rows out as a new segment at every savepoint and every statement that opens one (each ingested
-- message is a savepoint of its batch transaction, and the rules decision an upsert), so indexing
-- row by row wrote a segment per message and merged them again: about a third of ingest time.
--
-- An ingest batch, inside its own write transaction, puts one row in fts_deferred naming the
-- largest message id before it; the triggers leave the messages above that id alone, and the
-- batch indexes them in one statement and deletes the row before it commits. The row is never
-- committed (a rollback or a crash takes it away with the batch), so every other writer, and any
-- transaction without it, is indexed by the triggers exactly as before.
CREATE TABLE fts_deferred (
  after_id INTEGER NOT NULL
);

DROP TRIGGER messages_fts_ai;
DROP TRIGGER messages_fts_ad;
DROP TRIGGER messages_fts_au;

CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages
WHEN NOT EXISTS (SELECT 1 FROM fts_deferred WHERE new.id > after_id) BEGIN
  INSERT INTO messages_fts(rowid, subject, body, sender)
  VALUES (new.id, new.subject, coalesce(new.text_body, ''),
          coalesce(new.from_name, '') || ' ' || coalesce(new.from_addr, ''));
END;

-- A deferred message is not in the index yet: nothing to delete, and the batch indexes what it
-- holds at the end.
CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages
WHEN NOT EXISTS (SELECT 1 FROM fts_deferred WHERE old.id > after_id) BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, subject, body, sender)
  VALUES ('delete', old.id, old.subject, coalesce(old.text_body, ''),
          coalesce(old.from_name, '') || ' ' || coalesce(old.from_addr, ''));
END;

CREATE TRIGGER messages_fts_au AFTER UPDATE OF subject, text_body, from_name, from_addr ON messages
WHEN NOT EXISTS (SELECT 1 FROM fts_deferred WHERE old.id > after_id) BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, subject, body, sender)
  VALUES ('delete', old.id, old.subject, coalesce(old.text_body, ''),
          coalesce(old.from_name, '') || ' ' || coalesce(old.from_addr, ''));
  INSERT INTO messages_fts(rowid, subject, body, sender)
  VALUES (new.id, new.subject, coalesce(new.text_body, ''),
          coalesce(new.from_name, '') || ' ' || coalesce(new.from_addr, ''));
END;
