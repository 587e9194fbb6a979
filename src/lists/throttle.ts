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

export interface SlotWindow {
  /** Slots left for `key` in this window. */
  left(key: string, limit: number): number;
  /** Takes one slot for `key` when one is left. */
  take(key: string, limit: number): boolean;
  /** Writes the counts taken; call inside the transaction that uses the slots. */
  save(): void;
}

/**
 * takeSlot for many rows at once: each key's count is read once, counted in memory and written
 * once by save(), in the caller's transaction, with the same one-second windows as takeSlot.
 */
export function openSlots(db: Db, now: number): SlotWindow {
  const window = Math.floor(now / 1000) * 1000;
  const used = new Map<string, { count: number; dirty: boolean }>();
  const read = prepareCached(db, 'SELECT window_start, count FROM list_throttle WHERE key = ?');
  const entry = (key: string) => {
    let e = used.get(key);
    if (!e) {
      const row = read.get(key) as { window_start: number; count: number } | undefined;
      e = { count: row && row.window_start === window ? row.count : 0, dirty: false };
      used.set(key, e);
    }
    return e;
  };
  return {
    left: (key, limit) => Math.max(0, limit - entry(key).count),
    take(key, limit) {
      const e = entry(key);
      if (e.count >= limit) return false;
      e.count += 1;
      e.dirty = true;
      return true;
    },
    save() {
      const write = prepareCached(
        db,
        `INSERT INTO list_throttle (key, window_start, count) VALUES (?, ?, ?)
         ON CONFLICT(key) DO UPDATE SET window_start = excluded.window_start, count = excluded.count`,
      );
      for (const [key, e] of used) if (e.dirty) write.run(key, window, e.count);
    },
  };
}
