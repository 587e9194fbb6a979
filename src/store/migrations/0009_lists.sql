-- Mailing lists: lists, subscribers, memberships, consent records, campaigns and their per-recipient
-- send rows, bounces, throttle counters and the hashed erase list.
-- Times are integer milliseconds since the Unix epoch (UTC).

CREATE TABLE lists (
  id INTEGER PRIMARY KEY,
  slug TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  public INTEGER NOT NULL DEFAULT 1,
  optin TEXT NOT NULL DEFAULT 'double' CHECK (optin IN ('single', 'double')),
  welcome INTEGER NOT NULL DEFAULT 0,
  consent_wording TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE subscribers (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,            -- normalised (customers normaliseAddress)
  name TEXT,
  locale TEXT,
  attributes TEXT NOT NULL DEFAULT '{}', -- JSON object
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocklisted', 'bounced')),
  unsubscribed_all_at INTEGER,           -- left every list (or complained): no segment mail either
  customer_id INTEGER REFERENCES customers(id),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX subscribers_customer ON subscribers(customer_id);

CREATE TABLE list_memberships (
  list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
  subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
  status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'unsubscribed')),
  created_at INTEGER NOT NULL,
  requested_at INTEGER NOT NULL,
  confirmed_at INTEGER,
  unsubscribed_at INTEGER,
  PRIMARY KEY (list_id, subscriber_id)
);
CREATE INDEX list_memberships_status ON list_memberships(list_id, status);
CREATE INDEX list_memberships_subscriber ON list_memberships(subscriber_id);

-- Proof of consent (GDPR art. 7(1)): who agreed to what wording, when, from where.
CREATE TABLE list_consents (
  id INTEGER PRIMARY KEY,
  subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
  list_id INTEGER REFERENCES lists(id) ON DELETE SET NULL,
  action TEXT NOT NULL CHECK (action IN ('request', 'confirm', 'unsubscribe')),
  source TEXT NOT NULL CHECK (source IN ('form', 'import', 'api', 'staff', 'mail', 'complaint', 'link')),
  wording TEXT,
  ip TEXT,
  user_agent TEXT,
  at INTEGER NOT NULL
);
CREATE INDEX list_consents_subscriber ON list_consents(subscriber_id, at);

CREATE TABLE campaigns (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  list_ids TEXT NOT NULL DEFAULT '[]',   -- JSON array of list ids
  segment_id TEXT,
  template TEXT NOT NULL,
  subject TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'draft'
    CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'cancelled', 'done')),
  scheduled_at INTEGER,
  expanded_at INTEGER,                   -- set once every recipient has a campaign_sends row
  started_at INTEGER,
  finished_at INTEGER,
  total INTEGER NOT NULL DEFAULT 0,
  bounce_threshold REAL NOT NULL DEFAULT 0.05,
  complaint_threshold REAL NOT NULL DEFAULT 0.001,
  tracking INTEGER NOT NULL DEFAULT 0,   -- opens/clicks; off unless the marketer turns it on
  paused_reason TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX campaigns_status ON campaigns(status, scheduled_at);

-- One row per recipient: UNIQUE(campaign_id, email) makes expansion idempotent and resume exact.
CREATE TABLE campaign_sends (
  id INTEGER PRIMARY KEY,
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
  email TEXT NOT NULL,
  subscriber_id INTEGER REFERENCES subscribers(id) ON DELETE SET NULL,
  list_id INTEGER,                       -- the list the unsubscribe link leaves; NULL = all lists
  token TEXT NOT NULL UNIQUE,            -- per-send token in the VERP Return-Path
  domain TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'queued', 'sent', 'failed', 'bounced', 'skipped')),
  complained INTEGER NOT NULL DEFAULT 0,
  queued_at INTEGER,
  sent_at INTEGER,
  error TEXT,
  UNIQUE (campaign_id, email)
);
CREATE INDEX campaign_sends_status ON campaign_sends(campaign_id, status, id);
CREATE INDEX campaign_sends_email ON campaign_sends(email);

CREATE TABLE campaign_notices (
  id INTEGER PRIMARY KEY,
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  message TEXT NOT NULL,
  at INTEGER NOT NULL,
  seen_at INTEGER
);

CREATE TABLE list_bounces (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint')),
  status TEXT,
  send_id INTEGER REFERENCES campaign_sends(id) ON DELETE SET NULL,
  at INTEGER NOT NULL
);
CREATE INDEX list_bounces_email ON list_bounces(email, kind, at);

-- Send-rate counters per one-second window, in SQLite so a restart does not reset the limits.
CREATE TABLE list_throttle (
  key TEXT PRIMARY KEY,
  window_start INTEGER NOT NULL,
  count INTEGER NOT NULL
);

-- Erased addresses: only sha256(normalised address) is kept, so an erased person is never mailed again.
CREATE TABLE erased_addresses (
  email_sha256 TEXT PRIMARY KEY,
  erased_at INTEGER NOT NULL
);
