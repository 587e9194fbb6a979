-- The spine every domain shares: customers, conversations, messages, attachments.
-- Times are integer milliseconds since the Unix epoch (UTC).

CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,            -- normalised: lower-case, IDN domain in punycode
  base_email TEXT NOT NULL,              -- email without +tag: links plus-addressed aliases
  name TEXT,
  locale TEXT,
  time_zone TEXT,
  vip INTEGER NOT NULL DEFAULT 0,
  tags TEXT NOT NULL DEFAULT '[]',
  notes TEXT NOT NULL DEFAULT '',
  first_contact_at INTEGER NOT NULL,
  last_contact_at INTEGER NOT NULL,
  order_count INTEGER NOT NULL DEFAULT 0,
  total_cents INTEGER NOT NULL DEFAULT 0,
  merged_into INTEGER REFERENCES customers(id),
  created_at INTEGER NOT NULL
);
CREATE INDEX customers_base_email ON customers(base_email);

CREATE TABLE conversations (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER REFERENCES customers(id),
  subject TEXT NOT NULL DEFAULT '',
  department TEXT NOT NULL,
  urgency TEXT NOT NULL DEFAULT 'normal' CHECK (urgency IN ('urgent', 'normal', 'thanks')),
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'waiting', 'snoozed', 'closed')),
  assignee TEXT,
  tags TEXT NOT NULL DEFAULT '[]',
  linked_to INTEGER REFERENCES conversations(id),
  created_at INTEGER NOT NULL,
  last_message_at INTEGER NOT NULL,
  last_inbound_at INTEGER,
  snoozed_until INTEGER
);
CREATE INDEX conversations_customer ON conversations(customer_id);
CREATE INDEX conversations_department ON conversations(department, status);

CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id),
  direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  message_id TEXT NOT NULL,              -- without angle brackets; synthetic when the mail had none
  dedupe_key TEXT NOT NULL UNIQUE,       -- what makes a second copy of the same mail a duplicate
  in_reply_to TEXT,
  refs TEXT NOT NULL DEFAULT '[]',       -- JSON array of Message-IDs from References
  from_addr TEXT,
  from_name TEXT,
  to_addrs TEXT NOT NULL DEFAULT '[]',
  cc_addrs TEXT NOT NULL DEFAULT '[]',
  subject TEXT NOT NULL DEFAULT '',
  sent_at INTEGER,                       -- the Date header, when it parsed
  received_at INTEGER NOT NULL,          -- when mailroom stored it
  text_body TEXT,
  html_body TEXT,
  headers TEXT NOT NULL DEFAULT '{}',    -- JSON of the headers rules and threading use
  flags TEXT NOT NULL DEFAULT '[]',      -- JSON array: auto_reply, bulk, bounce, loop, parse_error, oversize, ...
  size INTEGER NOT NULL DEFAULT 0,
  raw_sha256 TEXT,                       -- compressed raw message in the blob store
  source TEXT,                           -- where it came from: imap:<account>/<mailbox>/<uid>, import:<file>, web:<user>
  author TEXT                            -- staff user for outgoing mail
);
CREATE INDEX messages_conversation ON messages(conversation_id, received_at);
CREATE INDEX messages_message_id ON messages(message_id);

CREATE TABLE attachments (
  id INTEGER PRIMARY KEY,
  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  sha256 TEXT NOT NULL,
  filename TEXT,
  content_type TEXT NOT NULL DEFAULT 'application/octet-stream',
  size INTEGER NOT NULL,
  content_id TEXT,
  inline INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX attachments_message ON attachments(message_id);
