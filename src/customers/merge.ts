import { ErrorCodes, MailroomError } from '../lib/index.ts';
import { type Db, inTransaction } from '../store/index.ts';
import type { CustomerRow } from './contacts.ts';
import { refreshCustomerStats } from './orders.ts';
import { customerTags } from './profile.ts';
import { tablesWithCustomerId } from './schema-probe.ts';

export interface MergeResult {
  target: CustomerRow;
  /** Rows moved per table (conversations, orders, subscribers, ...). */
  moved: Record<string, number>;
}

function get(db: Db, id: number): CustomerRow {
  const row = db.prepare('SELECT * FROM customers WHERE id = ?').get(id) as CustomerRow | undefined;
  if (!row) throw new MailroomError(ErrorCodes.NOT_FOUND, `no customer #${id}`);
  return row;
}

/**
 * Staff merge of two records of one person: everything of `sourceId` moves to `targetId`, and
 * the source stays as a pointer (merged_into) so mail from its address still lands on the target.
 * Every table with a customer_id column moves, including tables of other folders, so a new
 * table cannot be forgotten. A row that would break a UNIQUE rule on the target (the same list
 * membership twice) stays on the source record: nothing is deleted.
 */
export function mergeCustomers(
  db: Db,
  sourceId: number,
  targetId: number,
  now: number,
  author?: string,
): MergeResult {
  if (sourceId === targetId)
    throw new MailroomError(ErrorCodes.CONFLICT, 'cannot merge a customer into itself');
  return inTransaction(db, () => {
    const source = get(db, sourceId);
    const target = get(db, targetId);
    if (source.merged_into !== null) {
      throw new MailroomError(
        ErrorCodes.CONFLICT,
        `customer #${sourceId} was already merged into #${source.merged_into}`,
      );
    }
    if (target.merged_into !== null) {
      throw new MailroomError(
        ErrorCodes.CONFLICT,
        `customer #${targetId} was merged into #${target.merged_into}: merge into that record instead`,
      );
    }
    const moved: Record<string, number> = {};
    for (const table of tablesWithCustomerId(db)) {
      // Table names come from sqlite_master and are checked identifiers, never user input.
      const res = db
        .prepare(`UPDATE OR IGNORE "${table}" SET customer_id = ? WHERE customer_id = ?`)
        .run(targetId, sourceId);
      if (res.changes > 0) moved[table] = res.changes;
    }
    db.prepare('UPDATE customers SET merged_into = ? WHERE merged_into = ?').run(targetId, sourceId);
    const tags = [...new Set([...customerTags(target), ...customerTags(source)])].sort();
    const stamp = `[${new Date(now).toISOString().slice(0, 16).replace('T', ' ')}${author ? ` ${author}` : ''}] merged ${source.email} (#${source.id}) into this record`;
    const notes = [target.notes, source.notes ? `from ${source.email}:\n${source.notes}` : '', stamp]
      .filter(Boolean)
      .join('\n');
    db.prepare(
      `UPDATE customers SET tags = ?, notes = ?, vip = max(vip, ?),
         first_contact_at = min(first_contact_at, ?), last_contact_at = max(last_contact_at, ?),
         name = coalesce(name, ?), locale = coalesce(locale, ?), time_zone = coalesce(time_zone, ?)
       WHERE id = ?`,
    ).run(
      JSON.stringify(tags),
      notes,
      source.vip,
      source.first_contact_at,
      source.last_contact_at,
      source.name,
      source.locale,
      source.time_zone,
      targetId,
    );
    db.prepare('UPDATE customers SET merged_into = ? WHERE id = ?').run(targetId, sourceId);
    refreshCustomerStats(db, targetId);
    refreshCustomerStats(db, sourceId);
    return { target: get(db, targetId), moved };
  });
}
