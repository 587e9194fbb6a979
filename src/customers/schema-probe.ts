import type { Db } from '../store/index.ts';

/**
 * Other folders' tables point at customers (outbox, subscribers, conversations ...). A merge must move
 * every such reference, including ones added by later migrations, so they are found at run time.
 */

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function tableColumns(db: Db, table: string): Set<string> {
  if (!IDENT.test(table)) return new Set();
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table);
  if (!exists) return new Set();
  const rows = db.prepare(`PRAGMA table_info("${table}")`).all() as Array<{ name: string }>;
  return new Set(rows.map((r) => r.name).filter((n) => IDENT.test(n)));
}

/** Every table with a customer_id column, except customers itself. */
export function tablesWithCustomerId(db: Db): string[] {
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .all() as Array<{ name: string }>;
  return names.map((r) => r.name).filter((n) => n !== 'customers' && tableColumns(db, n).has('customer_id'));
}

export interface ForeignKeyRef {
  table: string;
  column: string;
  notNull: boolean;
  onDelete: string;
}

/** Every foreign key column pointing at `target`, in any table (read from the schema at run time). */
export function referencesTo(db: Db, target: string): ForeignKeyRef[] {
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .all() as Array<{ name: string }>;
  const out: ForeignKeyRef[] = [];
  for (const { name } of names) {
    if (!IDENT.test(name)) continue;
    const fks = db.prepare(`PRAGMA foreign_key_list("${name}")`).all() as Array<{
      table: string;
      from: string;
      on_delete: string;
    }>;
    const hits = fks.filter((f) => f.table === target && IDENT.test(f.from));
    if (hits.length === 0) continue;
    const info = db.prepare(`PRAGMA table_info("${name}")`).all() as Array<{ name: string; notnull: number }>;
    for (const f of hits) {
      const col = info.find((c) => c.name === f.from);
      out.push({
        table: name,
        column: f.from,
        notNull: col?.notnull === 1,
        onDelete: f.on_delete.toUpperCase(),
      });
    }
  }
  return out;
}

/**
 * Deletes rows of `table` by id and first lets go of every reference to them, found from the
 * schema so a table added by a later migration is not forgotten: ON DELETE CASCADE / SET NULL are
 * left to SQLite, a nullable column is set to NULL, and a row that cannot exist without its parent
 * (NOT NULL column) is deleted. Returns the rows deleted from `table`. Run it inside a transaction.
 */
export function deleteWithReferences(db: Db, table: string, ids: number[]): number {
  if (!IDENT.test(table) || ids.length === 0) return 0;
  let deleted = 0;
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const marks = chunk.map(() => '?').join(', ');
    for (const ref of referencesTo(db, table)) {
      if (ref.onDelete === 'CASCADE' || ref.onDelete === 'SET NULL') continue;
      if (ref.notNull)
        db.prepare(`DELETE FROM "${ref.table}" WHERE "${ref.column}" IN (${marks})`).run(...chunk);
      else
        db.prepare(
          `UPDATE "${ref.table}" SET "${ref.column}" = NULL WHERE "${ref.column}" IN (${marks})`,
        ).run(...chunk);
    }
    deleted += db.prepare(`DELETE FROM "${table}" WHERE id IN (${marks})`).run(...chunk).changes;
  }
  return deleted;
}
