import { type Db, prepareCached } from '../store/index.ts';

/**
 * Fixed one-second windows counted in SQLite, so the send rate holds across a restart (an
 * in-memory limiter would allow a fresh burst on every crash loop). Call inside a transaction.
 */
export function takeSlot(db: Db, key: string, limit: number, now: number): boolean {
  const window = Math.floor(now / 1000) * 1000;
  const row = prepareCached(db, 'SELECT window_start, count FROM list_throttle WHERE key = ?').get(key) as
    | { window_start: number; count: number }
    | undefined;
  const used = row && row.window_start === window ? row.count : 0;
  if (used >= limit) return false;
  prepareCached(
    db,
    `INSERT INTO list_throttle (key, window_start, count) VALUES (?, ?, ?)
     ON CONFLICT(key) DO UPDATE SET window_start = excluded.window_start, count = excluded.count`,
  ).run(key, window, used + 1);
  return true;
}

/** Slots left in the current window without taking any. */
export function slotsLeft(db: Db, key: string, limit: number, now: number): number {
  const window = Math.floor(now / 1000) * 1000;
  const row = prepareCached(db, 'SELECT window_start, count FROM list_throttle WHERE key = ?').get(key) as
    | { window_start: number; count: number }
    | undefined;
  return Math.max(0, limit - (row && row.window_start === window ? row.count : 0));
}
