import { normaliseAddress } from '../customers/index.ts';
import { ErrorCodes, MailroomError } from '../lib/index.ts';
import type { ListsDeps } from './types.ts';

/**
 * Blocklist an address (or lift it): a blocklisted subscriber gets no list mail and cannot be
 * signed up again, whatever the lists say. An address mailroom has never seen is recorded too, so
 * a later sign-up is refused. Lifting applies only to a block; bounces stay bounced.
 */
export function setBlocklisted(deps: Pick<ListsDeps, 'db' | 'clock'>, email: string, blocked: boolean): void {
  const addr = normaliseAddress(email)?.email;
  if (!addr) throw new MailroomError(ErrorCodes.VALIDATION, `"${email}" is not an email address`);
  const now = deps.clock.now();
  if (blocked) {
    deps.db
      .prepare(
        `INSERT INTO subscribers (email, status, created_at, updated_at) VALUES (?, 'blocklisted', ?, ?)
         ON CONFLICT (email) DO UPDATE SET status = 'blocklisted', updated_at = excluded.updated_at`,
      )
      .run(addr, now, now);
  } else {
    deps.db
      .prepare(
        `UPDATE subscribers SET status = 'active', updated_at = ? WHERE email = ? AND status = 'blocklisted'`,
      )
      .run(now, addr);
  }
}
