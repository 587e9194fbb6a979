import type { Clock } from '../../lib/index.ts';
import type { Db } from '../../store/index.ts';

export const MAX_FAILURES = 5;
export const FAILURE_WINDOW_MS = 15 * 60 * 1000;

/**
 * Failed logins per client address + user name, persisted in SQLite (login_failures), so neither
 * a restart nor spreading guesses over many user names from one address resets the limit for a
 * name. After MAX_FAILURES inside the window the pair is locked until the window ends.
 */
export interface LoginThrottle {
  /** Milliseconds until the pair may try again, or 0. */
  lockedFor(ip: string, username: string): number;
  failed(ip: string, username: string): void;
  succeeded(ip: string, username: string): void;
}

export function createLoginThrottle(db: Db, clock: Clock): LoginThrottle {
  const key = (ip: string, username: string) => `${ip}|${username.toLowerCase()}`;
  return {
    lockedFor(ip, username) {
      const r = db.prepare('SELECT locked_until FROM login_failures WHERE key = ?').get(key(ip, username)) as
        | { locked_until: number | null }
        | undefined;
      const left = (r?.locked_until ?? 0) - clock.now();
      return left > 0 ? left : 0;
    },
    failed(ip, username) {
      const now = clock.now();
      const k = key(ip, username);
      const r = db.prepare('SELECT count, first_at FROM login_failures WHERE key = ?').get(k) as
        | { count: number; first_at: number }
        | undefined;
      if (!r || now - r.first_at > FAILURE_WINDOW_MS) {
        db.prepare(
          'INSERT OR REPLACE INTO login_failures (key, count, first_at, locked_until) VALUES (?, 1, ?, NULL)',
        ).run(k, now);
        return;
      }
      const count = r.count + 1;
      db.prepare('UPDATE login_failures SET count = ?, locked_until = ? WHERE key = ?').run(
        count,
        count >= MAX_FAILURES ? now + FAILURE_WINDOW_MS : null,
        k,
      );
    },
    succeeded(ip, username) {
      db.prepare('DELETE FROM login_failures WHERE key = ?').run(key(ip, username));
    },
  };
}
