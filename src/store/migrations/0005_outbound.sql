-- outbound: every mail mailroom sends, and addresses it must not send to.
-- Times are integer milliseconds since the Unix epoch (UTC).

-- One row per mail, written BEFORE the mail is queued. send_stage records how far the SMTP
-- conversation got, so a worker that died mid-send knows on retry whether a resend could duplicate:
--   none -> connecting -> data_sent (last byte of DATA handed to the server) -> done
-- status: queued -> sending -> sent | failed | uncertain (data_sent, result never recorded:
-- presumed delivered, never resent).
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,                      -- template name, 'staff_reply', 'campaign', ...
  category TEXT NOT NULL DEFAULT 'transactional' CHECK (category IN ('transactional', 'marketing')),
  automatic TEXT CHECK (automatic IN ('auto-replied', 'auto-generated')),
  conversation_id INTEGER REFERENCES conversations(id),
  customer_id INTEGER REFERENCES customers(id),
  to_addr TEXT NOT NULL,
  from_addr TEXT NOT NULL,
  envelope_from TEXT NOT NULL,
  subject TEXT NOT NULL,
  message_id TEXT NOT NULL UNIQUE,         -- without angle brackets
  raw BLOB NOT NULL,
  status TEXT NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'uncertain', 'suppressed')),
  send_stage TEXT NOT NULL DEFAULT 'none' CHECK (send_stage IN ('none', 'connecting', 'data_sent', 'done')),
  attempts INTEGER NOT NULL DEFAULT 0,
  last_response TEXT,
  idempotency_key TEXT NOT NULL UNIQUE,    -- e.g. 'order-123-confirmation': same key, same mail, sent once
  created_at INTEGER NOT NULL,
  sent_at INTEGER,
  updated_at INTEGER NOT NULL
);
CREATE INDEX outbox_status ON outbox(status, created_at);
CREATE INDEX outbox_to_auto ON outbox(to_addr, automatic, created_at);
CREATE INDEX outbox_conversation ON outbox(conversation_id);

-- Addresses mail must not go to. reason 'hard_bounce' stops all mail (it cannot arrive);
-- other reasons ('complaint', 'unsubscribed', 'manual') stop marketing mail only.
CREATE TABLE suppressions (
  address TEXT PRIMARY KEY,                -- lower-case
  reason TEXT NOT NULL,
  source TEXT NOT NULL,                    -- 'smtp:<outbox id>', 'dsn', 'staff:<user>', ...
  detail TEXT,
  at INTEGER NOT NULL
);
