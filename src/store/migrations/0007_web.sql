-- web: staff accounts, sessions, login throttling, internal notes, the staff action timeline and
-- full-text search over messages. Times are integer milliseconds since the Unix epoch (UTC).

CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL UNIQUE COLLATE NOCASE,
  password_hash TEXT NOT NULL,           -- argon2id PHC string
  role TEXT NOT NULL CHECK (role IN ('admin', 'agent', 'marketer')),
  departments TEXT NOT NULL DEFAULT '[]', -- JSON array; what an agent may see
  locale TEXT NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'zh-CN', 'zh-TW')),
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  last_login_at INTEGER
);

-- The cookie carries a random id; only its HMAC (keyed with the session secret) is stored, so a
-- copy of the database does not let anyone sign in as staff.
CREATE TABLE sessions (
  id_hash TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  csrf_token TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

-- Failed logins per client address + user name, kept across restarts so a restart does not reset
-- a guessing attack.
CREATE TABLE login_failures (
  key TEXT PRIMARY KEY,
  count INTEGER NOT NULL,
  first_at INTEGER NOT NULL,
  locked_until INTEGER
);

CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  author TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX notes_conversation ON notes(conversation_id, created_at);

-- What staff did to a conversation (assign, department, snooze, close, merge...): its timeline.
CREATE TABLE conversation_events (
  id INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX conversation_events_conversation ON conversation_events(conversation_id, at);

CREATE INDEX conversations_assignee ON conversations(assignee, status);
CREATE INDEX conversations_status_inbound ON conversations(status, last_inbound_at);

-- Full-text search over subject, body and sender. The trigram tokenizer indexes every 3-character
-- run, so Chinese (no spaces between words) is searchable; queries shorter than 3 characters fall
-- back to LIKE in the web layer. The index reads its text from a view (external content), so the
-- message text is not stored twice.
CREATE VIEW messages_fts_source AS
  SELECT id, subject, coalesce(text_body, '') AS body,
         coalesce(from_name, '') || ' ' || coalesce(from_addr, '') AS sender
  FROM messages;

CREATE VIRTUAL TABLE messages_fts USING fts5(
  subject, body, sender,
  content = 'messages_fts_source', content_rowid = 'id', tokenize = 'trigram'
);

CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts(rowid, subject, body, sender)
  VALUES (new.id, new.subject, coalesce(new.text_body, ''),
          coalesce(new.from_name, '') || ' ' || coalesce(new.from_addr, ''));
END;

CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, subject, body, sender)
  VALUES ('delete', old.id, old.subject, coalesce(old.text_body, ''),
          coalesce(old.from_name, '') || ' ' || coalesce(old.from_addr, ''));
END;

CREATE TRIGGER messages_fts_au AFTER UPDATE OF subject, text_body, from_name, from_addr ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, subject, body, sender)
  VALUES ('delete', old.id, old.subject, coalesce(old.text_body, ''),
          coalesce(old.from_name, '') || ' ' || coalesce(old.from_addr, ''));
  INSERT INTO messages_fts(rowid, subject, body, sender)
  VALUES (new.id, new.subject, coalesce(new.text_body, ''),
          coalesce(new.from_name, '') || ' ' || coalesce(new.from_addr, ''));
END;

-- Messages stored before this migration.
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
