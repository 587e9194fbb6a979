import { randomBytes } from 'node:crypto';
import { normaliseAddress } from '../customers/index.ts';
import { sha256Hex } from '../lib/index.ts';
import { getCampaign } from './campaign-store.ts';
import { upsertSubscriber } from './repo.ts';
import type { ListsDeps } from './types.ts';

const CHUNK = 5000;

interface Candidate {
  email: string;
  subscriberId: number | null;
  listId: number | null;
  skip: string | null;
}

/**
 * Expands a campaign into one campaign_sends row per recipient: confirmed members of its lists,
 * then its segment, deduped by normalised address (the first occurrence wins), minus blocklisted,
 * bounced, erased and suppressed addresses (kept as `skipped` rows so the marketer sees why).
 * Members are read a page at a time and inserted in transactions of 5,000 under
 * UNIQUE(campaign_id, email), which also does the dedupe: memory stays flat however long the list,
 * and an expansion cut short by a crash is simply run again. Returns the number of rows.
 */
export async function expandCampaign(deps: ListsDeps, campaignId: number): Promise<number> {
  const { db } = deps;
  const campaign = getCampaign(db, campaignId);
  if (campaign.expanded_at !== null) return campaign.total;
  const now = deps.clock.now();
  const listIds = JSON.parse(campaign.list_ids) as number[];
  const erased = new Set(
    (db.prepare('SELECT email_sha256 FROM erased_addresses').all() as Array<{ email_sha256: string }>).map(
      (r) => r.email_sha256,
    ),
  );
  const insert = db.prepare(
    `INSERT OR IGNORE INTO campaign_sends (campaign_id, email, subscriber_id, list_id, token, domain, status, error)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const add = (c: Candidate) => {
    let skip = c.skip;
    if (!skip && erased.has(sha256Hex(c.email))) skip = 'erased';
    if (!skip && deps.isSuppressed?.(c.email)) skip = 'suppressed';
    insert.run(
      campaignId,
      c.email,
      c.subscriberId,
      c.listId,
      randomBytes(10).toString('hex'),
      c.email.slice(c.email.lastIndexOf('@') + 1),
      skip ? 'skipped' : 'pending',
      skip,
    );
  };

  const page = db.prepare(
    `SELECT s.id, s.email, s.status FROM list_memberships m JOIN subscribers s ON s.id = m.subscriber_id
     WHERE m.list_id = ? AND m.status = 'confirmed' AND s.id > ? ORDER BY s.id LIMIT ${CHUNK}`,
  );
  for (const listId of listIds) {
    for (let after = 0; ; ) {
      const rows = page.all(listId, after) as Array<{ id: number; email: string; status: string }>;
      if (rows.length === 0) break;
      db.transaction(() => {
        for (const r of rows)
          add({ email: r.email, subscriberId: r.id, listId, skip: r.status === 'active' ? null : r.status });
      }).immediate();
      after = (rows[rows.length - 1] as { id: number }).id;
    }
  }

  if (campaign.segment_id && !deps.segmentMembers) {
    deps.logger.warn(
      { campaign: campaignId, segment: campaign.segment_id },
      'no segment source wired; segment left out',
    );
  }
  if (campaign.segment_id && deps.segmentMembers) {
    const seg = await deps.segmentMembers(campaign.segment_id);
    const has = db.prepare('SELECT 1 FROM campaign_sends WHERE campaign_id = ? AND email = ?');
    for (let i = 0; i < seg.length; i += CHUNK) {
      db.transaction(() => {
        for (const m of seg.slice(i, i + CHUNK)) {
          const addr = normaliseAddress(m.email);
          if (!addr || has.get(campaignId, addr.email)) continue;
          // Segment recipients get a subscriber row so their unsubscribe link has someone to act on.
          const sub = upsertSubscriber(db, { email: addr.email, name: m.name }, now);
          const skip =
            sub.status !== 'active' ? sub.status : sub.unsubscribed_all_at !== null ? 'unsubscribed' : null;
          add({ email: addr.email, subscriberId: sub.id, listId: null, skip });
        }
      }).immediate();
    }
  }

  const total = (
    db.prepare('SELECT count(*) AS n FROM campaign_sends WHERE campaign_id = ?').get(campaignId) as {
      n: number;
    }
  ).n;
  db.prepare('UPDATE campaigns SET expanded_at = ?, total = ?, updated_at = ? WHERE id = ?').run(
    now,
    total,
    now,
    campaignId,
  );
  deps.logger.info({ campaign: campaignId, total }, 'campaign expanded');
  return total;
}
