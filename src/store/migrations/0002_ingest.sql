-- ingest: IMAP checkpoints, which UIDs were taken in, and per-mailbox reconcile status.

-- Where each watched mailbox stands. uid_validity is TEXT: imapflow returns it as a BigInt.
-- last_uid only moves in the same transaction as the message it names (at-least-once fetch,
-- exactly-once store through messages.dedupe_key).
CREATE TABLE ingest_checkpoints (
  account TEXT NOT NULL,
  mailbox TEXT NOT NULL,
  uid_validity TEXT NOT NULL,
  last_uid INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (account, mailbox)
);

-- Every UID taken in (stored or found to be a duplicate), for the gap report.
CREATE TABLE ingest_uids (
  account TEXT NOT NULL,
  mailbox TEXT NOT NULL,
  uid_validity TEXT NOT NULL,
  uid INTEGER NOT NULL,
  message_row INTEGER,
  status TEXT NOT NULL CHECK (status IN ('stored', 'duplicate')),
  at INTEGER NOT NULL,
  PRIMARY KEY (account, mailbox, uid_validity, uid)
) WITHOUT ROWID;

-- What the poller last saw on the server, for `mailroom accounts status` and the admin page.
CREATE TABLE ingest_mailbox_status (
  account TEXT NOT NULL,
  mailbox TEXT NOT NULL,
  server_messages INTEGER,
  uid_next INTEGER,
  last_poll_at INTEGER,
  last_error TEXT,
  last_error_at INTEGER,
  uid_gaps TEXT NOT NULL DEFAULT '[]',
  PRIMARY KEY (account, mailbox)
);

CREATE INDEX messages_in_reply_to ON messages(in_reply_to);
