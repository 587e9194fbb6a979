import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { registerStoreFunctions } from './cjk.ts';

export type Db = Database.Database;

export interface OpenOptions {
  /** Open read-only (reports, status commands run beside a live process). */
  readonly?: boolean;
  /** Milliseconds a writer waits for the lock held by another connection. */
  busyTimeoutMs?: number;
}

/**
 * The one place SQLite is set up. WAL lets the web server read while the poller writes;
 * synchronous=NORMAL is durable across process crashes in WAL mode (only an OS crash can lose
 * the last commits), which is the trade-off the engineering notes measured at 3x the throughput.
 * It also registers the SQL functions the schema's triggers call (see cjk.ts).
 */
export function openDatabase(file: string, opts: OpenOptions = {}): Db {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file, { readonly: opts.readonly ?? false });
  db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
  if (!opts.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.pragma('foreign_keys = ON');
  // The schema's triggers call these (migration 0016): registered before any migration or write.
  registerStoreFunctions(db);
  return db;
}

/** Runs fn in a BEGIN IMMEDIATE transaction: writers take the lock up front, so no deadlock on upgrade. */
export function inTransaction<T>(db: Db, fn: () => T): T {
  return db.transaction(fn).immediate();
}

const statementCache = new WeakMap<Db, Map<string, Database.Statement>>();

/**
 * db.prepare(sql) once per connection: for statements run once or more per mail, where compiling
 * the SQL again every time cost more than running it. Only for fixed SQL text (the cache keeps
 * every distinct string), and not for statements that are iterated or switched to raw/pluck mode.
 */
export function prepareCached(db: Db, sql: string): Database.Statement {
  let byText = statementCache.get(db);
  if (!byText) {
    byText = new Map();
    statementCache.set(db, byText);
  }
  let stmt = byText.get(sql);
  if (!stmt) {
    stmt = db.prepare(sql);
    byText.set(sql, stmt);
  }
  return stmt;
}
