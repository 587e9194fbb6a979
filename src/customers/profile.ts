import { ErrorCodes, isTimeZone, MailroomError } from '../lib/index.ts';
import type { Db } from '../store/index.ts';
import type { CustomerRow } from './contacts.ts';

/** Staff edits of a customer record: tags (segments), VIP flag, notes, name, locale, time zone. */

export function customerTags(c: CustomerRow): string[] {
  try {
    const v = JSON.parse(c.tags) as unknown;
    return Array.isArray(v) ? v.filter((t): t is string => typeof t === 'string') : [];
  } catch {
    return [];
  }
}

function mustGet(db: Db, id: number): CustomerRow {
  const row = db.prepare('SELECT * FROM customers WHERE id = ?').get(id) as CustomerRow | undefined;
  if (!row) throw new MailroomError(ErrorCodes.NOT_FOUND, `no customer #${id}`);
  return row;
}

/**
 * The record that stands for `id` now: a merged record answers with the one it was merged into.
 * undefined for no id (an order whose buyer was erased).
 */
export function resolveCustomer(db: Db, id: number | null): CustomerRow | undefined {
  if (id === null) return undefined;
  let row = db.prepare('SELECT * FROM customers WHERE id = ?').get(id) as CustomerRow | undefined;
  for (let hops = 0; row && row.merged_into !== null && hops < 10; hops++) {
    row = db.prepare('SELECT * FROM customers WHERE id = ?').get(row.merged_into) as CustomerRow | undefined;
  }
  return row;
}

function normaliseTag(tag: string): string {
  const t = tag.trim().toLowerCase();
  if (!/^[\p{L}\p{N}][\p{L}\p{N}_ -]{0,49}$/u.test(t)) {
    throw new MailroomError(
      ErrorCodes.VALIDATION,
      `tag "${tag}" is not usable: use 1-50 letters, digits, spaces, "-" or "_"`,
    );
  }
  return t;
}

export function setTags(db: Db, id: number, tags: string[]): CustomerRow {
  mustGet(db, id);
  const clean = [...new Set(tags.map(normaliseTag))].sort();
  db.prepare('UPDATE customers SET tags = ? WHERE id = ?').run(JSON.stringify(clean), id);
  return mustGet(db, id);
}

export function addTag(db: Db, id: number, tag: string): CustomerRow {
  return setTags(db, id, [...customerTags(mustGet(db, id)), tag]);
}

export function removeTag(db: Db, id: number, tag: string): CustomerRow {
  const t = tag.trim().toLowerCase();
  return setTags(
    db,
    id,
    customerTags(mustGet(db, id)).filter((x) => x !== t),
  );
}

export function setVip(db: Db, id: number, vip: boolean): CustomerRow {
  mustGet(db, id);
  db.prepare('UPDATE customers SET vip = ? WHERE id = ?').run(vip ? 1 : 0, id);
  return mustGet(db, id);
}

/** Appends a dated note; notes are history and are never overwritten. */
export function addNote(db: Db, id: number, note: string, at: number, author?: string): CustomerRow {
  const c = mustGet(db, id);
  const text = note.trim();
  if (!text) throw new MailroomError(ErrorCodes.VALIDATION, 'the note is empty');
  const line = `[${new Date(at).toISOString().slice(0, 16).replace('T', ' ')}${author ? ` ${author}` : ''}] ${text}`;
  db.prepare('UPDATE customers SET notes = ? WHERE id = ?').run(c.notes ? `${c.notes}\n${line}` : line, id);
  return mustGet(db, id);
}

export interface ProfilePatch {
  name?: string | null;
  locale?: string | null;
  timeZone?: string | null;
}

export function updateProfile(db: Db, id: number, patch: ProfilePatch): CustomerRow {
  const c = mustGet(db, id);
  if (patch.timeZone && !isTimeZone(patch.timeZone))
    throw new MailroomError(
      ErrorCodes.VALIDATION,
      `unknown time zone "${patch.timeZone}": use an IANA name such as Asia/Shanghai`,
    );
  db.prepare('UPDATE customers SET name = ?, locale = ?, time_zone = ? WHERE id = ?').run(
    patch.name === undefined ? c.name : patch.name,
    patch.locale === undefined ? c.locale : patch.locale,
    patch.timeZone === undefined ? c.time_zone : patch.timeZone,
    id,
  );
  return mustGet(db, id);
}

/** Every record sharing the base address (plus-tag aliases), the given one included. */
export function linkedAliases(db: Db, id: number): CustomerRow[] {
  const c = mustGet(db, id);
  return db
    .prepare('SELECT * FROM customers WHERE base_email = ? ORDER BY id')
    .all(c.base_email) as CustomerRow[];
}
