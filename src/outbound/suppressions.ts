import { type Db, prepareCached } from '../store/index.ts';

/**
 * Addresses mail must not go to. A hard bounce stops every mail (it cannot arrive); anything else
 * (complaint, unsubscribe, manual) stops marketing mail only, so a customer who left a newsletter
 * still gets the order confirmation they need.
 */

export type SuppressionReason = 'hard_bounce' | 'complaint' | 'unsubscribed' | 'manual';

export interface SuppressionRow {
  address: string;
  reason: string;
  source: string;
  detail: string | null;
  at: number;
}

const norm = (email: string) => email.trim().toLowerCase();

export function addSuppression(
  db: Db,
  input: { address: string; reason: SuppressionReason; source: string; detail?: string | null; at: number },
): void {
  // A hard bounce outranks a softer reason already on file; a softer one never downgrades it.
  db.prepare(
    `INSERT INTO suppressions (address, reason, source, detail, at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT(address) DO UPDATE SET reason = excluded.reason, source = excluded.source,
       detail = excluded.detail, at = excluded.at
     WHERE suppressions.reason != 'hard_bounce' OR excluded.reason = 'hard_bounce'`,
  ).run(norm(input.address), input.reason, input.source, input.detail ?? null, input.at);
}

export function getSuppression(db: Db, email: string): SuppressionRow | undefined {
  return prepareCached(db, 'SELECT * FROM suppressions WHERE address = ?').get(norm(email)) as
    | SuppressionRow
    | undefined;
}

export function removeSuppression(db: Db, email: string): boolean {
  return db.prepare('DELETE FROM suppressions WHERE address = ?').run(norm(email)).changes > 0;
}

export function isSuppressed(db: Db, email: string, kind: 'marketing' | 'transactional'): boolean {
  const row = getSuppression(db, email);
  if (!row) return false;
  return kind === 'marketing' || row.reason === 'hard_bounce';
}
