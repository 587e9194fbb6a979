-- lists: the campaign dispatcher checks a running campaign's complaint rate on every tick
-- (campaign-store progress()). Counting `complained = 1` rows had no index to use and read every
-- send row of the campaign: ~15 ms per tick at 100,000 recipients. Complaints are rare, so a
-- partial index holds only them.
CREATE INDEX campaign_sends_complained ON campaign_sends(campaign_id) WHERE complained = 1;
