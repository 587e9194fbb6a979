import { domainToUnicode } from 'node:url';
import { ErrorCodes, MailroomError } from '../lib/index.ts';
import type { Db } from '../store/index.ts';
import { normaliseAddress } from './address.ts';
import type { CustomerRow } from './contacts.ts';
import { customerTags } from './profile.ts';
import { deleteWithReferences } from './schema-probe.ts';
import { compileSegment, listSegments } from './segments.ts';

/**
 * The customers' part of access and erase requests for one address (GDPR art. 15 and 17): the
 * customer record, its orders and order events, staff tasks about it. Mail, the outbox and the
 * lists are other folders' parts; src/app/data-rights.ts puts them together.
 */

export const ERASED_MARK = '[erased]';

/** The normalised address, or a VALIDATION error. */
export function requireAddress(email: string): string {
  const addr = normaliseAddress(email)?.email;
  if (!addr || !/^[^@\s]+@[^@\s]+$/.test(addr)) {
    throw new MailroomError(ErrorCodes.VALIDATION, `"${email.slice(0, 80)}" is not an email address`);
  }
  return addr;
}

/** The spellings an address may have in stored text: normalised, and with a Unicode (IDN) domain. */
export function addressSpellings(addr: string): string[] {
  const at = addr.lastIndexOf('@');
  const unicode = `${addr.slice(0, at)}@${domainToUnicode(addr.slice(at + 1))}`;
  return [...new Set([addr, unicode.toLowerCase()])].filter((a) => a.length > 3 && !a.endsWith('@'));
}

export interface Redactor {
  /** The text with every address and name replaced by ERASED_MARK. */
  (text: string): string;
  /** Whether the text names the address or a name. */
  test(text: string): boolean;
  readonly addresses: string[];
  readonly names: string[];
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const HAN = /\p{Script=Han}/u;

/**
 * Finds an erased person's address and names in text. Addresses match case-insensitively and only
 * as a whole address (ann@x.com, not jann@x.com). Names match as whole words in alphabetic scripts
 * ("Ann Lee", not "Annual"), and as written in Chinese (no spaces between words there). Names shorter
 * than 2 characters, or with characters that are escaped inside JSON, are not searched for.
 */
export function makeRedactor(input: { addresses: string[]; names: string[] }): Redactor {
  const addresses = [...new Set(input.addresses.map((a) => a.trim().toLowerCase()).filter(Boolean))];
  const names = [
    ...new Set(
      input.names
        .map((n) => n.replace(/\s+/g, ' ').trim())
        .filter((n) => [...n].length >= 2 && !/["\\\u0000-\u001f]/.test(n) && !n.includes('@')),
    ),
  ].sort((a, b) => b.length - a.length);
  const parts = [
    ...addresses.map((a) => `(?<![\\p{L}\\p{N}._%+-])${escapeRe(a)}(?![\\p{L}\\p{N}-]|\\.[\\p{L}\\p{N}])`),
    ...names.map((n) => {
      const body = n.split(' ').map(escapeRe).join('\\s+');
      return HAN.test(n) ? body : `(?<![\\p{L}\\p{N}])${body}(?![\\p{L}\\p{N}])`;
    }),
  ];
  const re = parts.length ? new RegExp(parts.join('|'), 'giu') : null;
  const redact = ((text: string) => (re ? text.replace(re, ERASED_MARK) : text)) as Redactor;
  redact.test = (text: string) => {
    if (!re) return false;
    re.lastIndex = 0;
    const hit = re.test(text);
    re.lastIndex = 0;
    return hit;
  };
  return Object.assign(redact, { addresses, names });
}

function parseJson(s: string | null): unknown {
  if (s === null) return null;
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return s;
  }
}

/** The customer records of exactly this address (not its plus-tag aliases: those are other addresses). */
export function customerRecordsFor(db: Db, email: string): CustomerRow[] {
  return db
    .prepare('SELECT * FROM customers WHERE email = ? ORDER BY id')
    .all(requireAddress(email)) as CustomerRow[];
}

/** What the customers folder holds about one address, as plain JSON. */
export function exportCustomerData(db: Db, email: string): Record<string, unknown> {
  const records = customerRecordsFor(db, email);
  const ids = records.map((r) => r.id);
  const marks = ids.map(() => '?').join(', ') || 'NULL';
  const orders = db
    .prepare(`SELECT * FROM orders WHERE customer_id IN (${marks}) ORDER BY created_at, id`)
    .all(...ids) as Array<Record<string, unknown> & { id: number; items: string }>;
  const events = db.prepare(
    'SELECT event_id, type, at, received_at, payload FROM order_events WHERE order_id = ? ORDER BY at, id',
  );
  return {
    customer:
      records.map((r) => ({
        id: r.id,
        email: r.email,
        name: r.name,
        locale: r.locale,
        timeZone: r.time_zone,
        vip: r.vip === 1,
        segments: customerTags(r),
        // Saved customer filters (campaign targets) this record falls into now.
        savedSegments: listSegments(db)
          .filter((seg) => {
            const { where, params } = compileSegment(seg.filter);
            return db.prepare(`SELECT 1 FROM customers c WHERE ${where} AND c.id = ?`).get(...params, r.id);
          })
          .map((seg) => ({ id: seg.id, name: seg.name })),
        notes: r.notes,
        firstContactAt: r.first_contact_at,
        lastContactAt: r.last_contact_at,
        orderCount: r.order_count,
        totalCents: r.total_cents,
        mergedInto: r.merged_into,
        createdAt: r.created_at,
        // Other addresses staff linked to this one (plus-tag aliases, merged records).
        linkedAddresses: (
          db
            .prepare('SELECT email FROM customers WHERE id != ? AND (base_email = ? OR merged_into = ?)')
            .all(r.id, r.base_email, r.id) as Array<{ email: string }>
        ).map((x) => x.email),
      }))[0] ?? null,
    orders: orders.map((o) => ({
      ...o,
      items: parseJson(o.items),
      events: (events.all(o.id) as Array<Record<string, unknown> & { payload: string }>).map((e) => ({
        ...e,
        payload: parseJson(e.payload),
      })),
    })),
    tasks: db
      .prepare(
        `SELECT kind, title, status, created_at, done_at FROM tasks WHERE customer_id IN (${marks}) ORDER BY id`,
      )
      .all(...ids),
  };
}

export interface CustomerErase {
  /** The erased records (ids no longer exist). */
  customerIds: number[];
  /** Names the records held, for redaction elsewhere. */
  names: string[];
  /** Orders kept for bookkeeping, pseudonymised and unlinked. */
  ordersPseudonymised: number;
  tasksDeleted: number;
}

/** The names on the customer records of an address (before they are erased). */
export function customerNames(db: Db, email: string): string[] {
  return customerRecordsFor(db, email)
    .map((r) => r.name)
    .filter((n): n is string => Boolean(n?.trim()));
}

/**
 * Erases the customer records of one address. Runs inside the caller's transaction, after the mail
 * part moved or removed the conversations of the record.
 *
 * Orders are kept, because bookkeeping law requires keeping what was sold, when and for how much:
 * each order of the record stays with its number, status, amounts, items and dates, but loses its
 * link to the person (customer_id NULL), its language, and the shop's event payloads (free-form
 * JSON that may name a person or a postal address); erased_at marks it. Staff tasks about the
 * person are deleted, automation steps still to come are cancelled. Records merged into this one
 * are other addresses: they are detached, not erased. A surviving record this one was merged into
 * keeps its history, with this address and the person's names blanked out of its notes.
 */
export function eraseCustomerData(db: Db, email: string, now: number, redact?: Redactor): CustomerErase {
  const records = customerRecordsFor(db, email);
  const ids = records.map((r) => r.id);
  const names = records.map((r) => r.name).filter((n): n is string => Boolean(n?.trim()));
  if (ids.length === 0) return { customerIds: [], names, ordersPseudonymised: 0, tasksDeleted: 0 };
  const marks = ids.map(() => '?').join(', ');
  const red = redact ?? makeRedactor({ addresses: addressSpellings(requireAddress(email)), names });

  const orderIds = (
    db.prepare(`SELECT id FROM orders WHERE customer_id IN (${marks})`).all(...ids) as Array<{ id: number }>
  ).map((o) => o.id);
  const orderMarks = orderIds.map(() => '?').join(', ') || 'NULL';
  db.prepare(`UPDATE order_events SET payload = '{}' WHERE order_id IN (${orderMarks})`).run(...orderIds);
  const ordersPseudonymised = db
    .prepare(
      `UPDATE orders SET customer_id = NULL, locale = NULL, erased_at = ? WHERE customer_id IN (${marks})`,
    )
    .run(now, ...ids).changes;
  // The shop's wording may quote the buyer (a payment reference with their name): blank it out.
  const orderText = db.prepare(
    `SELECT id, payment_instructions, shipping_terms FROM orders WHERE id IN (${orderMarks})`,
  );
  const setOrderText = db.prepare(
    'UPDATE orders SET payment_instructions = ?, shipping_terms = ? WHERE id = ?',
  );
  for (const o of orderText.all(...orderIds) as Array<{
    id: number;
    payment_instructions: string | null;
    shipping_terms: string | null;
  }>) {
    const pi = o.payment_instructions === null ? null : red(o.payment_instructions);
    const st = o.shipping_terms === null ? null : red(o.shipping_terms);
    if (pi !== o.payment_instructions || st !== o.shipping_terms) setOrderText.run(pi, st, o.id);
  }

  db.prepare(
    `UPDATE automation_steps SET status = 'cancelled', reason = 'customer erased', updated_at = ?
     WHERE status = 'scheduled' AND (customer_id IN (${marks}) OR order_id IN (${orderMarks}))`,
  ).run(now, ...ids, ...orderIds);
  const tasksDeleted = db.prepare(`DELETE FROM tasks WHERE customer_id IN (${marks})`).run(...ids).changes;

  // The record this one was merged into: its notes carry this address ("merged ann@... into this record").
  for (const target of new Set(records.map((r) => r.merged_into).filter((t): t is number => t !== null))) {
    const row = db.prepare('SELECT notes FROM customers WHERE id = ?').get(target) as
      | { notes: string }
      | undefined;
    if (row && red.test(row.notes))
      db.prepare('UPDATE customers SET notes = ? WHERE id = ?').run(red(row.notes), target);
  }
  // Every remaining reference (records merged into this one, outbox rows to other addresses,
  // subscribers of aliases, ...) lets go; then the records go.
  deleteWithReferences(db, 'customers', ids);
  return { customerIds: ids, names, ordersPseudonymised, tasksDeleted };
}
