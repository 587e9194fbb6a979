import { normaliseAddress } from '../customers/index.ts';
import { ErrorCodes, MailroomError } from '../lib/index.ts';
import { type Db, inTransaction } from '../store/index.ts';
import { parseCsv, toCsv } from './csv.ts';
import {
  getListBySlug,
  getMembership,
  hashAddress,
  isErased,
  recordConsent,
  setMembership,
  upsertSubscriber,
} from './repo.ts';
import { sendConfirmation } from './subscribe.ts';
import type { ListsDeps, SubscriberRow } from './types.ts';

export interface ImportOptions {
  slug: string;
  csv: string;
  /** Who vouches for this import: recorded as the consent source. */
  source: 'import' | 'staff' | 'api';
  /**
   * `pending` (default): every new address gets a confirmation mail and joins only when it
   * confirms. `confirmed-elsewhere`: the people agreed elsewhere; needs `wording`, the exact text
   * they agreed to, which is recorded as their consent.
   */
  consent?: 'pending' | 'confirmed-elsewhere';
  wording?: string;
}

export interface ImportResult {
  confirmed: number;
  pending: number;
  unchanged: number;
  skipped: Array<{ line: number; reason: string }>;
}

/** CSV import (header row with an `email` column; `name`, `locale`, the rest become attributes). */
export async function importCsv(deps: ListsDeps, opts: ImportOptions): Promise<ImportResult> {
  const { db } = deps;
  const list = getListBySlug(db, opts.slug);
  if (!list) throw new MailroomError(ErrorCodes.NOT_FOUND, `there is no list "${opts.slug}"`);
  const confirmedElsewhere = opts.consent === 'confirmed-elsewhere';
  if (confirmedElsewhere && !opts.wording?.trim()) {
    throw new MailroomError(
      ErrorCodes.VALIDATION,
      'an import as confirmed needs the exact consent wording the people agreed to (--wording)',
    );
  }
  const [header, ...rows] = parseCsv(opts.csv);
  const cols = (header ?? []).map((h) => h.trim().toLowerCase());
  const emailCol = cols.indexOf('email');
  if (emailCol < 0)
    throw new MailroomError(ErrorCodes.VALIDATION, 'the CSV needs a header row with an "email" column');
  const result: ImportResult = { confirmed: 0, pending: 0, unchanged: 0, skipped: [] };
  const toConfirm: SubscriberRow[] = [];
  const now = deps.clock.now();
  const seen = new Set<string>();
  inTransaction(db, () => {
    for (const [i, row] of rows.entries()) {
      const line = i + 2;
      const skip = (reason: string) => result.skipped.push({ line, reason });
      const addr = normaliseAddress(row[emailCol] ?? '');
      if (!addr?.email.includes('.')) {
        skip('not an email address');
        continue;
      }
      if (seen.has(addr.email)) {
        skip('duplicate');
        continue;
      }
      seen.add(addr.email);
      if (isErased(db, addr.email)) {
        skip('erased');
        continue;
      }
      const attributes: Record<string, unknown> = {};
      cols.forEach((c, j) => {
        if (!['email', 'name', 'locale'].includes(c) && c && row[j]) attributes[c] = row[j];
      });
      const col = (name: string) => (cols.indexOf(name) >= 0 ? row[cols.indexOf(name)] : undefined) || null;
      const sub = upsertSubscriber(
        db,
        { email: addr.email, name: col('name'), locale: col('locale'), attributes },
        now,
      );
      if (sub.status !== 'active') {
        skip(sub.status);
        continue;
      }
      const m = getMembership(db, list.id, sub.id);
      // Already confirmed, or already asked: no second confirmation mail.
      if (m?.status === 'confirmed' || (m?.status === 'pending' && !confirmedElsewhere)) {
        result.unchanged++;
        continue;
      }
      // An unsubscribe is final until the person asks again themselves.
      if (m?.status === 'unsubscribed') {
        skip('unsubscribed');
        continue;
      }
      const status = confirmedElsewhere ? 'confirmed' : 'pending';
      setMembership(db, list.id, sub.id, status, now);
      recordConsent(db, {
        subscriberId: sub.id,
        listId: list.id,
        action: confirmedElsewhere ? 'confirm' : 'request',
        source: opts.source,
        wording: confirmedElsewhere ? (opts.wording ?? null) : list.consent_wording,
        // The wording agreed elsewhere is in whatever language it was; the list's own is in its default.
        locale: confirmedElsewhere ? null : list.default_locale,
        at: now,
      });
      if (confirmedElsewhere) result.confirmed++;
      else {
        result.pending++;
        toConfirm.push(sub);
      }
    }
  });
  for (const sub of toConfirm) await sendConfirmation(deps, list, sub);
  deps.logger.info({ list: list.slug, ...result, skipped: result.skipped.length }, 'list import');
  return result;
}

export function exportListCsv(deps: Pick<ListsDeps, 'db'>, slug: string): string {
  const list = getListBySlug(deps.db, slug);
  if (!list) throw new MailroomError(ErrorCodes.NOT_FOUND, `there is no list "${slug}"`);
  const rows = deps.db
    .prepare(
      `SELECT s.email, s.name, s.locale, m.status, m.confirmed_at, m.unsubscribed_at, s.attributes
       FROM list_memberships m JOIN subscribers s ON s.id = m.subscriber_id WHERE m.list_id = ? ORDER BY s.email`,
    )
    .all(list.id) as Array<Record<string, string | number | null>>;
  const iso = (v: unknown) => (typeof v === 'number' ? new Date(v).toISOString() : '');
  return toCsv([
    ['email', 'name', 'locale', 'status', 'confirmed_at', 'unsubscribed_at', 'attributes'],
    ...rows.map((r) => [
      r.email,
      r.name,
      r.locale,
      r.status,
      iso(r.confirmed_at),
      iso(r.unsubscribed_at),
      r.attributes,
    ]),
  ]);
}

function addressOf(email: string): string {
  const addr = normaliseAddress(email)?.email;
  if (!addr)
    throw new MailroomError(ErrorCodes.VALIDATION, `"${email.slice(0, 80)}" is not an email address`);
  return addr;
}

/**
 * Everything held about one address (GDPR art. 15 access request), as plain JSON. With
 * deps.dataRights wired (the running app) that is the whole installation: customer record, orders,
 * mail, outbox and the lists; without it, the lists' part (exportListData).
 */
export function exportAddress(
  deps: Pick<ListsDeps, 'db'> & Partial<Pick<ListsDeps, 'dataRights'>>,
  email: string,
): Record<string, unknown> {
  if (deps.dataRights) return deps.dataRights.exportAddress(email);
  return exportListData(deps.db, email);
}

/** What the lists hold about one address: subscriber, memberships, consents, sends, opens/clicks, bounces. */
export function exportListData(db: Db, email: string): Record<string, unknown> {
  const addr = addressOf(email);
  const sub = db.prepare('SELECT * FROM subscribers WHERE email = ?').get(addr) as SubscriberRow | undefined;
  const id = sub?.id ?? -1;
  return {
    email: addr,
    erased: isErased(db, addr),
    subscriber: sub ? { ...sub, attributes: JSON.parse(sub.attributes) as unknown } : null,
    memberships: db
      .prepare(
        `SELECT l.slug, l.name, m.status, m.requested_at, m.confirmed_at, m.unsubscribed_at
         FROM list_memberships m JOIN lists l ON l.id = m.list_id WHERE m.subscriber_id = ?`,
      )
      .all(id),
    consents: db
      .prepare(
        `SELECT c.action, c.source, c.wording, c.locale, c.ip, c.user_agent, c.at, l.slug AS list
         FROM list_consents c LEFT JOIN lists l ON l.id = c.list_id WHERE c.subscriber_id = ? ORDER BY c.at, c.id`,
      )
      .all(id),
    campaignSends: db
      .prepare(
        `SELECT c.name AS campaign, s.status, s.sent_at, s.complained FROM campaign_sends s
         JOIN campaigns c ON c.id = s.campaign_id WHERE s.email = ? ORDER BY s.id`,
      )
      .all(addr),
    // Opens and clicks, recorded only for campaigns with tracking on.
    campaignEvents: db
      .prepare(
        `SELECT c.name AS campaign, e.kind, e.url, e.at, e.last_at, e.count FROM campaign_events e
         JOIN campaign_sends s ON s.id = e.send_id JOIN campaigns c ON c.id = e.campaign_id
         WHERE s.email = ? ORDER BY e.id`,
      )
      .all(addr),
    bounces: db.prepare('SELECT kind, status, at FROM list_bounces WHERE email = ? ORDER BY at').all(addr),
  };
}

/**
 * Erases one address (GDPR art. 17). With deps.dataRights wired (the running app) everything the
 * installation holds about it goes (see src/app/data-rights.ts); without it, the lists' part
 * (eraseListData). Either way only sha256 of the address stays, so it is never mailed again.
 */
export function eraseAddress(
  deps: Pick<ListsDeps, 'db' | 'clock' | 'logger'> & Partial<Pick<ListsDeps, 'dataRights'>>,
  email: string,
): void {
  if (deps.dataRights) {
    deps.dataRights.eraseAddress(email);
    return;
  }
  const addr = addressOf(email);
  inTransaction(deps.db, () => eraseListData(deps.db, addr, deps.clock.now()));
  deps.logger.info({ hash: hashAddress(addr).slice(0, 12) }, 'list address erased');
}

export interface ListErase {
  subscriber: boolean;
  /** Names the lists held for the address (subscriber name), for redaction elsewhere. */
  names: string[];
  campaignSends: number;
}

/**
 * The lists' part of an erase: subscriber, memberships, consents, bounces, tracked opens and clicks
 * go; past campaign sends keep their row (the campaign's counts) with the address replaced by its
 * sha256; the sha256 goes on the erase list, so the address is never subscribed, imported or
 * list-mailed again. Runs inside the caller's transaction. Customer records, mail and orders belong
 * to other folders and are erased there (src/app/data-rights.ts puts the parts together).
 */
export function eraseListData(db: Db, email: string, now: number): ListErase {
  const addr = addressOf(email);
  const hash = hashAddress(addr);
  const sub = db.prepare('SELECT id, name FROM subscribers WHERE email = ?').get(addr) as
    | { id: number; name: string | null }
    | undefined;
  db.prepare('DELETE FROM subscribers WHERE email = ?').run(addr);
  db.prepare('DELETE FROM list_bounces WHERE email = ?').run(addr);
  db.prepare(
    'DELETE FROM campaign_events WHERE send_id IN (SELECT id FROM campaign_sends WHERE email = ?)',
  ).run(addr);
  const sends = db
    .prepare(
      `UPDATE campaign_sends SET email = 'erased-' || ?, domain = '', subscriber_id = NULL,
         error = CASE WHEN status IN ('pending', 'queued') THEN 'erased' ELSE NULL END,
         status = CASE WHEN status IN ('pending', 'queued') THEN 'skipped' ELSE status END
       WHERE email = ?`,
    )
    .run(hash, addr).changes;
  db.prepare('INSERT OR IGNORE INTO erased_addresses (email_sha256, erased_at) VALUES (?, ?)').run(hash, now);
  return { subscriber: sub !== undefined, names: sub?.name ? [sub.name] : [], campaignSends: sends };
}
