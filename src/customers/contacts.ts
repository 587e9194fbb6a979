import { type Db, prepareCached } from '../store/index.ts';
import { normaliseAddress } from './address.ts';

export interface ContactInput {
  email: string;
  name?: string | null;
  locale?: string | null;
  timeZone?: string | null;
}

export interface CustomerRow {
  id: number;
  email: string;
  base_email: string;
  name: string | null;
  locale: string | null;
  time_zone: string | null;
  vip: number;
  tags: string;
  notes: string;
  first_contact_at: number;
  last_contact_at: number;
  order_count: number;
  total_cents: number;
  merged_into: number | null;
  created_at: number;
}

/**
 * Finds or creates the customer for an address and moves last contact forward. Follows merges, so
 * mail from an address whose record was merged lands on the surviving record. Synchronous: safe to
 * call inside a better-sqlite3 transaction. Returns null when the address is not an address.
 * A new record is linked to the list subscriber with the same address, if there is one, by the
 * customers_link_subscribers trigger (migration 0013), so the link exists whichever came first.
 */
export function recordContact(db: Db, input: ContactInput, at: number): CustomerRow | null {
  const addr = normaliseAddress(input.email);
  if (!addr) return null;
  const name = input.name?.trim() || null;
  prepareCached(
    db,
    `INSERT INTO customers (email, base_email, name, locale, time_zone, first_contact_at, last_contact_at, created_at)
     VALUES (@email, @base, @name, @locale, @tz, @at, @at, @at)
     ON CONFLICT(email) DO UPDATE SET
       last_contact_at = max(last_contact_at, excluded.last_contact_at),
       name = coalesce(customers.name, excluded.name),
       locale = coalesce(customers.locale, excluded.locale),
       time_zone = coalesce(customers.time_zone, excluded.time_zone)`,
  ).run({
    email: addr.email,
    base: addr.base,
    name,
    locale: input.locale ?? null,
    tz: input.timeZone ?? null,
    at,
  });
  let row = prepareCached(db, 'SELECT * FROM customers WHERE email = ?').get(addr.email) as CustomerRow;
  for (let hops = 0; row.merged_into !== null && hops < 10; hops++) {
    row = prepareCached(db, 'SELECT * FROM customers WHERE id = ?').get(row.merged_into) as CustomerRow;
  }
  return row;
}

export function getCustomer(db: Db, id: number): CustomerRow | undefined {
  return prepareCached(db, 'SELECT * FROM customers WHERE id = ?').get(id) as CustomerRow | undefined;
}

export function findCustomerByEmail(db: Db, email: string): CustomerRow | undefined {
  const addr = normaliseAddress(email);
  if (!addr) return undefined;
  return prepareCached(db, 'SELECT * FROM customers WHERE email = ?').get(addr.email) as
    | CustomerRow
    | undefined;
}
