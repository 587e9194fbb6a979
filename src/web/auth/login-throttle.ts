import { isIPv4, isIPv6 } from 'node:net';
import type { Clock } from '../../lib/index.ts';
import type { Db } from '../../store/index.ts';

/** Failed logins per client address + user name before that pair is locked. */
export const MAX_FAILURES = 5;
/**
 * Failed logins per client address, whatever the user names, before the address is locked. Larger
 * than MAX_FAILURES: a shop's staff behind one office NAT mistype too, but an address spraying
 * many user names (a few guesses each, under the per-name limit) is slowed all the same.
 */
export const MAX_IP_FAILURES = 30;
export const FAILURE_WINDOW_MS = 15 * 60 * 1000;

/**
 * Failed logins, persisted in SQLite (login_failures) so a restart resets nothing, counted twice:
 * - per client address + user name: after MAX_FAILURES inside the window the pair is locked until
 *   the window ends (the right password included), and guesses at other names do not reset it;
 * - per client address: after MAX_IP_FAILURES inside the window, over any user names, the address
 *   is locked for every name until its window ends, so spraying names from one address is slowed.
 * A success clears only its own pair: logging in to one's own account must not reset the budget of
 * the address. An IPv6 client is counted by its /64, which one subscriber usually holds whole.
 *
 * `ip` is Fastify's req.ip: the peer address, or with web.trust_proxy on, the address the reverse
 * proxy in front saw (src/web/server.ts trusts exactly one hop of X-Forwarded-For, so a client
 * cannot write its own address into the header and step around either limit).
 */
export interface LoginThrottle {
  /** Milliseconds until the address (for this user name) may try again, or 0. */
  lockedFor(ip: string, username: string): number;
  failed(ip: string, username: string): void;
  succeeded(ip: string, username: string): void;
}

/** The address as counted: IPv4-mapped IPv6 as IPv4, other IPv6 by its /64 prefix. */
export function clientKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1] && isIPv4(mapped[1])) return mapped[1];
  const bare = ip.replace(/%.*$/, '');
  if (!isIPv6(bare)) return ip;
  const [head = '', tail = ''] = bare.split('::');
  const hs = head ? head.split(':') : [];
  const ts = tail ? tail.split(':') : [];
  // A trailing dotted IPv4 part stands for two groups; it never reaches the first four.
  const groups = bare.includes('::') ? [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts] : hs;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

export function createLoginThrottle(db: Db, clock: Clock): LoginThrottle {
  // Pair keys always hold a "|"; address keys never do (no IP address or prefix has one).
  const pairKey = (ip: string, username: string) => `${clientKey(ip)}|${username.toLowerCase()}`;
  const ipKey = (ip: string) => `ip:${clientKey(ip)}`;

  const lockedUntil = (key: string) => {
    const r = db.prepare('SELECT locked_until FROM login_failures WHERE key = ?').get(key) as
      | { locked_until: number | null }
      | undefined;
    return r?.locked_until ?? 0;
  };

  const count = (key: string, max: number, now: number) => {
    const r = db.prepare('SELECT count, first_at FROM login_failures WHERE key = ?').get(key) as
      | { count: number; first_at: number }
      | undefined;
    if (!r || now - r.first_at > FAILURE_WINDOW_MS) {
      db.prepare(
        'INSERT OR REPLACE INTO login_failures (key, count, first_at, locked_until) VALUES (?, 1, ?, NULL)',
      ).run(key, now);
      return;
    }
    const n = r.count + 1;
    db.prepare('UPDATE login_failures SET count = ?, locked_until = ? WHERE key = ?').run(
      n,
      n >= max ? now + FAILURE_WINDOW_MS : null,
      key,
    );
  };

  return {
    lockedFor(ip, username) {
      const until = Math.max(lockedUntil(pairKey(ip, username)), lockedUntil(ipKey(ip)));
      const left = until - clock.now();
      return left > 0 ? left : 0;
    },
    failed(ip, username) {
      const now = clock.now();
      db.transaction(() => {
        count(pairKey(ip, username), MAX_FAILURES, now);
        count(ipKey(ip), MAX_IP_FAILURES, now);
      })();
    },
    succeeded(ip, username) {
      db.prepare('DELETE FROM login_failures WHERE key = ?').run(pairKey(ip, username));
    },
  };
}
