-- lists: campaign batches send their mail themselves (one queue job per batch of recipients, no
-- per-mail queue hop). A send row records the batch that claimed it, the outbox row of the attempt
-- whose end of DATA was handed to the SMTP server (its send_stage says whether the server may have
-- the mail), and retries after a temporary SMTP failure (not before `not_before`, `attempts` so far).
ALTER TABLE campaign_sends ADD COLUMN batch INTEGER;
ALTER TABLE campaign_sends ADD COLUMN outbox_id INTEGER;
ALTER TABLE campaign_sends ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE campaign_sends ADD COLUMN not_before INTEGER;
-- A batch job reads its rows by batch; only queued rows are in the index, so it stays small.
CREATE INDEX campaign_sends_batch ON campaign_sends(batch, id) WHERE status = 'queued';
