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
