-- Open and click tracking for campaigns that have it on (campaigns.tracking, off by default).
-- One row per send for opens, one per send and link for clicks: first time, last time, count.
-- Only what the privacy note in the mail says is recorded: that it was opened, which link was clicked.
-- Times are integer milliseconds since the Unix epoch (UTC).

CREATE TABLE campaign_events (
  id INTEGER PRIMARY KEY,
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
  send_id INTEGER NOT NULL REFERENCES campaign_sends(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('open', 'click')),
  url TEXT NOT NULL DEFAULT '',          -- the clicked link's target; '' for opens
  at INTEGER NOT NULL,                   -- first time
  last_at INTEGER NOT NULL,
  count INTEGER NOT NULL DEFAULT 1,
  UNIQUE (send_id, kind, url)
);
CREATE INDEX campaign_events_campaign ON campaign_events(campaign_id, kind, send_id);
