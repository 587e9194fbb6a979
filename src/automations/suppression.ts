import type { Db } from '../store/index.ts';

/**
 * Suppression state lives with outbound/lists, which may not exist in every build: the tables are
 * detected, not assumed. Marketing mail skips any suppressed address; transactional mail (an order
 * confirmation the customer needs) skips only addresses that hard-bounced, since it cannot arrive.
 */

function columns(db: Db, table: string): Set<string> {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table);
  if (!exists) return new Set();
  // Table names here are fixed literals from this file, never input.
  const rows = db.prepare(`PRAGMA table_info("${table}")`).all() as Array<{ name: string }>;
  return new Set(rows.map((r) => r.name));
}

export type SuppressionVerdict = { suppressed: false } | { suppressed: true; reason: string };

export function suppressionFor(
  db: Db,
  email: string,
  kind: 'transactional' | 'marketing',
): SuppressionVerdict {
  const sup = columns(db, 'suppressions');
  const addrCol = ['email', 'address'].find((c) => sup.has(c));
  if (addrCol) {
    const reasonCol = ['reason', 'kind', 'type'].find((c) => sup.has(c));
    const row = db
      .prepare(
        `SELECT ${reasonCol ? `"${reasonCol}"` : "'suppressed'"} AS reason FROM suppressions WHERE "${addrCol}" = ? LIMIT 1`,
      )
      .get(email) as { reason: string | null } | undefined;
    if (row) {
      const reason = String(row.reason ?? 'suppressed');
      const hard = /hard|bounce/i.test(reason) && !/soft/i.test(reason);
      if (kind === 'marketing' || hard) return { suppressed: true, reason: `suppressed (${reason})` };
    }
  }
  if (columns(db, 'list_bounces').has('kind')) {
    const hard = db
      .prepare("SELECT 1 FROM list_bounces WHERE email = ? AND kind = 'hard' LIMIT 1")
      .get(email);
    if (hard) return { suppressed: true, reason: 'hard bounce' };
    if (kind === 'marketing') {
      const complaint = db
        .prepare("SELECT 1 FROM list_bounces WHERE email = ? AND kind = 'complaint' LIMIT 1")
        .get(email);
      if (complaint) return { suppressed: true, reason: 'complaint' };
    }
  }
  if (kind === 'marketing' && columns(db, 'subscribers').has('unsubscribed_all_at')) {
    const gone = db
      .prepare('SELECT 1 FROM subscribers WHERE email = ? AND unsubscribed_all_at IS NOT NULL LIMIT 1')
      .get(email);
    if (gone) return { suppressed: true, reason: 'unsubscribed from all mail' };
  }
  return { suppressed: false };
}
