import { ErrorCodes, MailroomError } from '../lib/index.ts';
import { inTransaction } from '../store/index.ts';
import { tokenFromUnsubscribeAddress } from './links.ts';
import { findSubscriber, getList, getSubscriber, unsubscribeMemberships } from './repo.ts';
import { readToken, verifyToken } from './tokens.ts';
import type { ListRow, ListsDeps, MembershipStatus, SubscriberRow } from './types.ts';

export interface TokenSubject {
  subscriber: SubscriberRow;
  /** null when the token stands for every list. */
  list: ListRow | null;
}

/** Checks an unsubscribe token (signature, address binding, expiry) and returns whom it is for. */
export function resolveUnsubscribeToken(deps: ListsDeps, token: string): TokenSubject {
  const claims = readToken(token);
  const subscriber = getSubscriber(deps.db, claims.subscriberId);
  if (!subscriber) {
    throw new MailroomError(ErrorCodes.TOKEN_INVALID, 'this link is not valid; use the link from the mail');
  }
  verifyToken(deps.secret, token, subscriber.email, 'unsubscribe', deps.clock.now());
  const list = claims.listId === 0 ? null : (getList(deps.db, claims.listId) ?? null);
  return { subscriber, list };
}

export interface Preferences {
  email: string;
  /** The subscriber's stored language (null: unknown), for the page's language. */
  locale: string | null;
  list: {
    slug: string;
    name: string;
    status: MembershipStatus | null;
    /** The list's default language. */
    defaultLocale: string;
  } | null;
  lists: Array<{ slug: string; name: string; status: MembershipStatus }>;
}

/** What the preference page shows (GET /u/:token). Reading never changes anything. */
export function preferences(deps: ListsDeps, token: string): Preferences {
  const { subscriber, list } = resolveUnsubscribeToken(deps, token);
  const lists = deps.db
    .prepare(
      `SELECT l.slug, l.name, m.status FROM list_memberships m JOIN lists l ON l.id = m.list_id
       WHERE m.subscriber_id = ? ORDER BY l.name`,
    )
    .all(subscriber.id) as Preferences['lists'];
  return {
    email: subscriber.email,
    locale: subscriber.locale,
    list: list
      ? {
          slug: list.slug,
          name: list.name,
          status: lists.find((l) => l.slug === list.slug)?.status ?? null,
          defaultLocale: list.default_locale,
        }
      : null,
    lists,
  };
}

export type UnsubscribeScope = 'list' | 'all';

/**
 * Unsubscribes at once (RFC 8058 one-click POST, the preference page's button, or mail to the
 * mailto address). Campaign sends re-check membership just before sending, so this takes effect
 * for campaigns already running.
 */
export function unsubscribeByToken(
  deps: ListsDeps,
  token: string,
  scope: UnsubscribeScope,
  meta: { ip?: string | null; userAgent?: string | null; source?: 'link' | 'mail' },
): {
  email: string;
  lists: number;
  /** What was left: one list, or every list (an all-lists token, or scope 'all'). */
  scope: UnsubscribeScope;
  /** The subscriber's stored language and the list's default, for the page that answers. */
  locale: string | null;
  listDefaultLocale: string | null;
} {
  const { subscriber, list } = resolveUnsubscribeToken(deps, token);
  const listId = scope === 'all' || !list ? null : list.id;
  const changed = inTransaction(deps.db, () =>
    unsubscribeMemberships(deps.db, subscriber.id, listId, meta.source ?? 'link', deps.clock.now(), {
      ip: meta.ip ?? null,
      userAgent: meta.userAgent ?? null,
    }),
  );
  deps.logger.info({ subscriber: subscriber.id, list: list?.slug ?? '*', scope }, 'list unsubscribe');
  return {
    email: subscriber.email,
    lists: changed,
    scope: listId === null ? 'all' : 'list',
    locale: subscriber.locale,
    listDefaultLocale: list?.default_locale ?? null,
  };
}

/**
 * For the ingest pipeline: a mail to `unsubscribe+TOKEN@mail.domain` (the mailto in
 * List-Unsubscribe, RFC 2369). Without a valid token, a mail to `unsubscribe@` leaves every list
 * for the From address. Returns false when the mail is not for us, so ingest stores it as usual.
 */
export function handleUnsubscribeMail(
  deps: ListsDeps,
  mail: { to: string | string[]; from: string; subject?: string },
): boolean {
  const tos = Array.isArray(mail.to) ? mail.to : [mail.to];
  for (const to of tos) {
    const token = tokenFromUnsubscribeAddress(to);
    if (token) {
      try {
        unsubscribeByToken(deps, token, 'list', { source: 'mail' });
        return true;
      } catch (e) {
        deps.logger.warn({ code: (e as MailroomError).code }, 'unsubscribe mail with a bad token');
      }
    }
    if (/^<?unsubscribe(\+[^@]*)?@/i.test(to.trim()) && to.toLowerCase().includes(`@${deps.mailDomain}`)) {
      const sub = findSubscriber(deps.db, mail.from);
      if (sub) {
        inTransaction(deps.db, () => unsubscribeMemberships(deps.db, sub.id, null, 'mail', deps.clock.now()));
        deps.logger.info({ subscriber: sub.id }, 'list unsubscribe by mail from the sender address');
      }
      return true;
    }
  }
  return false;
}
