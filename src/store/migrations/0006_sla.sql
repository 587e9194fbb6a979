-- sla: response clocks per conversation, their event history, and once-only breach notifications.
-- Times are integer milliseconds since the Unix epoch (UTC).

-- What happened to a conversation, as far as its SLA clock cares. sla_clocks is recomputed from
-- these rows, so a policy change can be replayed and the clock rules stay in one pure function.
CREATE TABLE sla_events (
  id INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  type TEXT NOT NULL CHECK (type IN ('inbound', 'staff_reply', 'waiting', 'resumed', 'urgency')),
  at INTEGER NOT NULL,
  urgency TEXT CHECK (urgency IN ('urgent', 'normal', 'thanks')),
  department TEXT,
  automatic INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sla_events_conversation ON sla_events(conversation_id, at);

-- The current clock of each conversation (one row per conversation with any customer message).
CREATE TABLE sla_clocks (
  conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
  state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'met', 'breached')),
  kind TEXT NOT NULL CHECK (kind IN ('first', 'next')),
  generation INTEGER NOT NULL,           -- +1 for every clock started in the conversation
  started_at INTEGER NOT NULL,
  due_at INTEGER,                        -- NULL while paused
  warn_at INTEGER,
  paused_at INTEGER,
  responded_at INTEGER,
  urgency TEXT NOT NULL CHECK (urgency IN ('urgent', 'normal', 'thanks')),
  department TEXT,
  policy_key TEXT NOT NULL,              -- which target applied: "normal", "finance.urgent", ...
  first_started_at INTEGER NOT NULL,     -- first customer message: what reports count
  first_due_at INTEGER,
  first_response_at INTEGER,
  sla_stage TEXT CHECK (sla_stage IN ('warning', 'breach')),  -- inbox mark set by the scanner
  updated_at INTEGER NOT NULL
);
CREATE INDEX sla_clocks_due ON sla_clocks(due_at);
-- The scanner's work list: unanswered, running clocks whose breach has not been notified yet.
CREATE INDEX sla_clocks_scan ON sla_clocks(warn_at)
  WHERE responded_at IS NULL AND paused_at IS NULL AND COALESCE(sla_stage, '') <> 'breach';
CREATE INDEX sla_clocks_first_started ON sla_clocks(first_started_at);

-- One row per clock and stage: the UNIQUE key is what makes a warning or breach mail go out
-- once, across scans and restarts. notified_at stays NULL until notify succeeded, so a crash
-- between the insert and the notification is retried by the next scan.
CREATE TABLE sla_notifications (
  id INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  generation INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  stage TEXT NOT NULL CHECK (stage IN ('warning', 'breach')),
  department TEXT,
  due_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  notified_at INTEGER,
  claimed_at INTEGER,                    -- a scan is notifying it; stale claims are retried
  attempts INTEGER NOT NULL DEFAULT 0,
  UNIQUE (conversation_id, generation, stage)
);
CREATE INDEX sla_notifications_pending ON sla_notifications(notified_at) WHERE notified_at IS NULL;
