-- The embedded queue: jobs, repeating schedules and rate-limit windows, all in SQLite so they
-- survive restarts. A job is 'waiting' (delayed when run_at is in the future), 'active' under a
-- lease, then 'completed' or 'failed'. An active job whose lease ran out belonged to a process that
-- died: it is claimed again (jobs run at least once).
CREATE TABLE jobs (
  queue TEXT NOT NULL,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  data TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('waiting', 'active', 'completed', 'failed')),
  run_at INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  backoff TEXT,
  last_error TEXT,
  result TEXT,
  lease_until INTEGER,
  worker TEXT,
  created_at INTEGER NOT NULL,
  finished_at INTEGER,
  PRIMARY KEY (queue, id)
);
CREATE INDEX jobs_ready ON jobs (queue, state, run_at);
CREATE INDEX jobs_finished ON jobs (state, finished_at);

CREATE TABLE job_schedules (
  queue TEXT NOT NULL,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  data TEXT NOT NULL,
  every_ms INTEGER NOT NULL,
  next_run_at INTEGER NOT NULL,
  PRIMARY KEY (queue, id)
);

CREATE TABLE queue_limits (
  queue TEXT PRIMARY KEY,
  window_start INTEGER NOT NULL,
  used INTEGER NOT NULL
);
