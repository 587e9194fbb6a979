import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../lib/index.ts';
import type { Db } from '../../store/index.ts';
import { getUser, type StaffUser } from './users.ts';

export const SESSION_COOKIE = 'mr_session';
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

export interface Session {
  user: StaffUser;
  csrfToken: string;
  expiresAt: number;
}

export interface SessionStore {
  /** Starts a new session; the returned id goes in the cookie and is never stored as is. */
  create(userId: number): { id: string; csrfToken: string; expiresAt: number };
  get(id: string): Session | null;
  destroy(id: string): void;
}

export function createSessionStore(db: Db, clock: Clock, secret: string): SessionStore {
  const hashId = (id: string) => createHmac('sha256', secret).update(id).digest('hex');
  return {
    create(userId) {
      const id = randomBytes(32).toString('base64url');
      const csrfToken = randomBytes(24).toString('base64url');
      const now = clock.now();
      const expiresAt = now + SESSION_TTL_MS;
      db.prepare('DELETE FROM sessions WHERE expires_at < ?').run(now);
      db.prepare(
        'INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(hashId(id), userId, csrfToken, now, expiresAt, now);
      db.prepare('UPDATE users SET last_login_at = ? WHERE id = ?').run(now, userId);
      return { id, csrfToken, expiresAt };
    },
    get(id) {
      if (!id || id.length > 100) return null;
      const row = db
        .prepare('SELECT user_id, csrf_token, expires_at FROM sessions WHERE id_hash = ?')
        .get(hashId(id)) as { user_id: number; csrf_token: string; expires_at: number } | undefined;
      if (!row || row.expires_at <= clock.now()) return null;
      const user = getUser(db, row.user_id);
      if (!user) return null;
      return { user, csrfToken: row.csrf_token, expiresAt: row.expires_at };
    },
    destroy(id) {
      db.prepare('DELETE FROM sessions WHERE id_hash = ?').run(hashId(id));
    },
  };
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
