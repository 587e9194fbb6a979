import { findCustomerByEmail, normaliseAddress } from '../customers/index.ts';
import { ErrorCodes, MailroomError, sha256Hex } from '../lib/index.ts';
import { type Db, prepareCached } from '../store/index.ts';
import { consentWordings, type ListLocale, listLocale, requireListLocale } from './locale.ts';
import type {
  ConsentSource,
  ListRow,
  MembershipRow,
  MembershipStatus,
  OptIn,
  SubscriberRow,
} from './types.ts';

export interface NewList {
  slug: string;
  name: string;
  description?: string;
  public?: boolean;
  optin?: OptIn;
  welcome?: boolean;
  /** The exact sentence shown next to the subscribe button; recorded with every consent. */
  consentWording: string;
  /** Language of consentWording and of the public pages when the visitor's is unknown (default en). */
  defaultLocale?: string;
  /** The same consent in other languages, shown (and recorded) on pages in that language. */
  consentWordings?: Partial<Record<string, string>>;
}

function cleanWordings(
  input: Partial<Record<string, string>> | undefined,
): Partial<Record<ListLocale, string>> {
  const out: Partial<Record<ListLocale, string>> = {};
  for (const [k, v] of Object.entries(input ?? {})) {
    if (typeof v === 'string' && v.trim()) out[requireListLocale(k)] = v.trim();
  }
  return out;
}

export function normaliseEmail(input: string): string {
  const addr = normaliseAddress(input);
  if (!addr || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(addr.email)) {
    throw new MailroomError(ErrorCodes.VALIDATION, `"${input.slice(0, 80)}" is not an email address`);
  }
  return addr.email;
}

export function hashAddress(email: string): string {
  return sha256Hex(email);
}

export function isErased(db: Db, email: string): boolean {
  return (
    db.prepare('SELECT 1 FROM erased_addresses WHERE email_sha256 = ?').get(hashAddress(email)) !== undefined
  );
}

export function createList(db: Db, input: NewList, at: number): ListRow {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(input.slug)) {
    throw new MailroomError(ErrorCodes.VALIDATION, `list slug "${input.slug}" must be a-z, 0-9 and "-"`);
  }
  if (!input.consentWording.trim()) {
    throw new MailroomError(ErrorCodes.VALIDATION, 'a list needs the consent wording shown to subscribers');
  }
  const exists = db.prepare('SELECT 1 FROM lists WHERE slug = ?').get(input.slug);
  if (exists) throw new MailroomError(ErrorCodes.VALIDATION, `a list "${input.slug}" already exists`);
  const defaultLocale = input.defaultLocale ? requireListLocale(input.defaultLocale) : 'en';
  const wordings = cleanWordings(input.consentWordings);
  delete wordings[defaultLocale];
  const info = db
    .prepare(
      `INSERT INTO lists (slug, name, description, public, optin, welcome, consent_wording, created_at,
         default_locale, consent_wordings)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      input.slug,
      input.name,
      input.description ?? '',
      input.public === false ? 0 : 1,
      input.optin ?? 'double',
      input.welcome ? 1 : 0,
      input.consentWording,
      at,
      defaultLocale,
      JSON.stringify(wordings),
    );
  return getList(db, Number(info.lastInsertRowid)) as ListRow;
}

/**
 * Sets the consent wording of a list in one language: the default language's wording is
 * consent_wording itself, any other goes into the translations. An empty text removes a
 * translation (the default wording cannot be emptied). Past consent records keep the wording that
 * was shown when they were given.
 */
export function setConsentWording(db: Db, slug: string, locale: string, wording: string): ListRow {
  const list = getListBySlug(db, slug);
  if (!list) throw new MailroomError(ErrorCodes.NOT_FOUND, `there is no list "${slug}"`);
  const l = requireListLocale(locale);
  const text = wording.trim();
  if (l === (listLocale(list.default_locale) ?? 'en')) {
    if (!text)
      throw new MailroomError(ErrorCodes.VALIDATION, 'a list needs the consent wording shown to subscribers');
    db.prepare('UPDATE lists SET consent_wording = ? WHERE id = ?').run(text, list.id);
  } else {
    const all = consentWordings(list);
    if (text) all[l] = text;
    else delete all[l];
    db.prepare('UPDATE lists SET consent_wordings = ? WHERE id = ?').run(JSON.stringify(all), list.id);
  }
  return getList(db, list.id) as ListRow;
}

export function getList(db: Db, id: number): ListRow | undefined {
  return prepareCached(db, 'SELECT * FROM lists WHERE id = ?').get(id) as ListRow | undefined;
}

export function getListBySlug(db: Db, slug: string): ListRow | undefined {
  return db.prepare('SELECT * FROM lists WHERE slug = ?').get(slug) as ListRow | undefined;
}

export function allLists(db: Db): ListRow[] {
  return db.prepare('SELECT * FROM lists ORDER BY name').all() as ListRow[];
}

export function getSubscriber(db: Db, id: number): SubscriberRow | undefined {
  return db.prepare('SELECT * FROM subscribers WHERE id = ?').get(id) as SubscriberRow | undefined;
}

export function findSubscriber(db: Db, email: string): SubscriberRow | undefined {
  const addr = normaliseAddress(email);
  if (!addr) return undefined;
  return db.prepare('SELECT * FROM subscribers WHERE email = ?').get(addr.email) as SubscriberRow | undefined;
}

export interface SubscriberInput {
  email: string;
  name?: string | null;
  locale?: string | null;
  attributes?: Record<string, unknown>;
}

/** Finds or creates the subscriber (linked to the customer with the same address); fills blanks only. */
export function upsertSubscriber(db: Db, input: SubscriberInput, at: number): SubscriberRow {
  const email = normaliseEmail(input.email);
  const customer = findCustomerByEmail(db, email);
  db.prepare(
    `INSERT INTO subscribers (email, name, locale, attributes, customer_id, created_at, updated_at)
     VALUES (@email, @name, @locale, @attributes, @customer, @at, @at)
     ON CONFLICT(email) DO UPDATE SET
       name = coalesce(subscribers.name, excluded.name),
       locale = coalesce(subscribers.locale, excluded.locale),
       customer_id = coalesce(subscribers.customer_id, excluded.customer_id),
       attributes = CASE WHEN excluded.attributes = '{}' THEN subscribers.attributes
                         ELSE json_patch(subscribers.attributes, excluded.attributes) END,
       updated_at = excluded.updated_at`,
  ).run({
    email,
    name: input.name?.trim() || null,
    locale: input.locale?.trim() || null,
    attributes: JSON.stringify(input.attributes ?? {}),
    customer: customer?.id ?? null,
    at,
  });
  return db.prepare('SELECT * FROM subscribers WHERE email = ?').get(email) as SubscriberRow;
}

export function getMembership(db: Db, listId: number, subscriberId: number): MembershipRow | undefined {
  return db
    .prepare('SELECT * FROM list_memberships WHERE list_id = ? AND subscriber_id = ?')
    .get(listId, subscriberId) as MembershipRow | undefined;
}

export function setMembership(
  db: Db,
  listId: number,
  subscriberId: number,
  status: MembershipStatus,
  at: number,
): void {
  db.prepare(
    `INSERT INTO list_memberships (list_id, subscriber_id, status, created_at, requested_at, confirmed_at, unsubscribed_at)
     VALUES (@listId, @subscriberId, @status, @at, @at,
             CASE WHEN @status = 'confirmed' THEN @at END, CASE WHEN @status = 'unsubscribed' THEN @at END)
     ON CONFLICT(list_id, subscriber_id) DO UPDATE SET
       status = excluded.status,
       requested_at = CASE WHEN excluded.status = 'pending' THEN excluded.requested_at ELSE requested_at END,
       confirmed_at = CASE WHEN excluded.status = 'confirmed' THEN excluded.confirmed_at ELSE confirmed_at END,
       unsubscribed_at = CASE WHEN excluded.status = 'unsubscribed' THEN excluded.unsubscribed_at ELSE unsubscribed_at END`,
  ).run({ listId, subscriberId, status, at });
}

export interface ConsentInput {
  subscriberId: number;
  listId: number | null;
  action: 'request' | 'confirm' | 'unsubscribe';
  source: ConsentSource;
  wording?: string | null;
  /** Language of the wording as shown (null when unknown, e.g. agreed elsewhere). */
  locale?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  at: number;
}

export function recordConsent(db: Db, c: ConsentInput): void {
  db.prepare(
    `INSERT INTO list_consents (subscriber_id, list_id, action, source, wording, locale, ip, user_agent, at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    c.subscriberId,
    c.listId,
    c.action,
    c.source,
    c.wording ?? null,
    c.locale ?? null,
    c.ip ?? null,
    c.userAgent?.slice(0, 500) ?? null,
    c.at,
  );
}

/** Leaves lists: one list, or all (listId null) which also stops segment mail. */
export function unsubscribeMemberships(
  db: Db,
  subscriberId: number,
  listId: number | null,
  source: ConsentSource,
  at: number,
  meta: { ip?: string | null; userAgent?: string | null } = {},
): number {
  const changed =
    listId === null
      ? db
          .prepare(
            `UPDATE list_memberships SET status = 'unsubscribed', unsubscribed_at = ?
             WHERE subscriber_id = ? AND status != 'unsubscribed'`,
          )
          .run(at, subscriberId).changes
      : db
          .prepare(
            `UPDATE list_memberships SET status = 'unsubscribed', unsubscribed_at = ?
             WHERE subscriber_id = ? AND list_id = ? AND status != 'unsubscribed'`,
          )
          .run(at, subscriberId, listId).changes;
  if (listId === null) {
    db.prepare(
      'UPDATE subscribers SET unsubscribed_all_at = coalesce(unsubscribed_all_at, ?), updated_at = ? WHERE id = ?',
    ).run(at, at, subscriberId);
  }
  recordConsent(db, { subscriberId, listId, action: 'unsubscribe', source, at, ...meta });
  return changed;
}
