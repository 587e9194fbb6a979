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
 * then its segment, deduped by normalised address, minus blocklisted, bounced, erased and
 * suppressed addresses (kept as `skipped` rows so the marketer sees why). Rows are inserted with
 * one prepared statement in transactions of 5,000 under UNIQUE(campaign_id, email), so an
 * expansion cut short by a crash is simply run again. Returns the number of rows.
 */
export async function expandCampaign(deps: ListsDeps, campaignId: number): Promise<number> {
  const { db } = deps;
  const campaign = getCampaign(db, campaignId);
  if (campaign.expanded_at !== null) return campaign.total;
  const now = deps.clock.now();
  const listIds = JSON.parse(campaign.list_ids) as number[];
  const byEmail = new Map<string, Candidate>();

  const members = db.prepare(
    `SELECT s.id, s.email, s.status FROM list_memberships m JOIN subscribers s ON s.id = m.subscriber_id
     WHERE m.list_id = ? AND m.status = 'confirmed' ORDER BY s.id`,
  );
  for (const listId of listIds) {
    for (const r of members.iterate(listId) as Iterable<{ id: number; email: string; status: string }>) {
      if (byEmail.has(r.email)) continue;
      byEmail.set(r.email, {
        email: r.email,
        subscriberId: r.id,
        listId,
        skip: r.status === 'active' ? null : r.status,
      });
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
    for (let i = 0; i < seg.length; i += CHUNK) {
      db.transaction(() => {
        for (const m of seg.slice(i, i + CHUNK)) {
          const addr = normaliseAddress(m.email);
          if (!addr || byEmail.has(addr.email)) continue;
          // Segment recipients get a subscriber row so their unsubscribe link has someone to act on.
          const sub = upsertSubscriber(db, { email: addr.email, name: m.name }, now);
          const skip =
            sub.status !== 'active' ? sub.status : sub.unsubscribed_all_at !== null ? 'unsubscribed' : null;
          byEmail.set(addr.email, { email: addr.email, subscriberId: sub.id, listId: null, skip });
        }
      }).immediate();
    }
  }

  const erased = new Set(
    (db.prepare('SELECT email_sha256 FROM erased_addresses').all() as Array<{ email_sha256: string }>).map(
      (r) => r.email_sha256,
    ),
  );
  const insert = db.prepare(
    `INSERT OR IGNORE INTO campaign_sends (campaign_id, email, subscriber_id, list_id, token, domain, status, error)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const all = [...byEmail.values()];
  for (let i = 0; i < all.length; i += CHUNK) {
    db.transaction(() => {
      for (const c of all.slice(i, i + CHUNK)) {
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
      }
    }).immediate();
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
