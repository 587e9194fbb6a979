import type { Db } from '../store/index.ts';

/**
 * Whether an automated mail may go to an address. Marketing mail skips any suppressed address;
 * transactional mail (an order confirmation the customer needs) skips only addresses that
 * hard-bounced, since it cannot arrive. Three records say so: outbound's suppressions, the lists'
 * bounce log, and a subscriber who left every list.
 */

export type SuppressionVerdict = { suppressed: false } | { suppressed: true; reason: string };

export function suppressionFor(
  db: Db,
  email: string,
  kind: 'transactional' | 'marketing',
): SuppressionVerdict {
  const row = db.prepare('SELECT reason FROM suppressions WHERE address = ?').get(email.toLowerCase()) as
    | { reason: string }
    | undefined;
  if (row && (kind === 'marketing' || row.reason === 'hard_bounce')) {
    return { suppressed: true, reason: `suppressed (${row.reason})` };
  }
  const bounce = db
    .prepare(
      `SELECT kind FROM list_bounces WHERE email = ? AND kind IN ('hard', 'complaint')
       ORDER BY kind = 'hard' DESC LIMIT 1`,
    )
    .get(email) as { kind: 'hard' | 'complaint' } | undefined;
  if (bounce?.kind === 'hard') return { suppressed: true, reason: 'hard bounce' };
  if (kind === 'transactional') return { suppressed: false };
  if (bounce) return { suppressed: true, reason: 'complaint' };
  const gone = db
    .prepare('SELECT 1 FROM subscribers WHERE email = ? AND unsubscribed_all_at IS NOT NULL')
    .get(email);
  if (gone) return { suppressed: true, reason: 'unsubscribed from all mail' };
  return { suppressed: false };
}
