-- threading: every Message-ID a stored message names in its References, indexed. Threading asks
-- "has a reply to this message arrived already?" for each new mail; answered from messages.refs
-- that was a LIKE scan of every stored message (ingest slowed down as the store grew). Kept in
-- step with messages.refs by triggers, so no writer of messages has to know about this table.

CREATE TABLE message_refs (
  ref TEXT NOT NULL,
  message_row INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  PRIMARY KEY (ref, message_row)
) WITHOUT ROWID;
CREATE INDEX message_refs_message ON message_refs(message_row);

CREATE TRIGGER message_refs_ai AFTER INSERT ON messages
WHEN new.refs <> '[]' AND json_valid(new.refs) BEGIN
  INSERT OR IGNORE INTO message_refs (ref, message_row)
  SELECT value, new.id FROM json_each(new.refs) WHERE type = 'text';
END;

CREATE TRIGGER message_refs_au AFTER UPDATE OF refs ON messages BEGIN
  DELETE FROM message_refs WHERE message_row = old.id;
  INSERT OR IGNORE INTO message_refs (ref, message_row)
  SELECT value, new.id FROM json_each(CASE WHEN json_valid(new.refs) THEN new.refs ELSE '[]' END)
  WHERE type = 'text';
END;

-- Messages stored before this migration.
INSERT OR IGNORE INTO message_refs (ref, message_row)
SELECT j.value, m.id FROM messages m, json_each(CASE WHEN json_valid(m.refs) THEN m.refs ELSE '[]' END) j
WHERE m.refs <> '[]' AND j.type = 'text';
