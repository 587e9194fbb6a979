import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, MailroomError } from '../lib/index.ts';
import type { Db } from './db.ts';

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const out: Migration[] = [];
  for (const f of readdirSync(dir).sort()) {
    const m = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(f);
    if (!m) continue;
    out.push({ version: Number(m[1]), name: m[2] as string, sql: readFileSync(path.join(dir, f), 'utf8') });
  }
  out.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`migration numbering has a gap or duplicate at ${m.version}_${m.name}`);
  });
  return out;
}

export function schemaVersion(db: Db): number {
  return Number(db.pragma('user_version', { simple: true }) ?? 0);
}

export interface MigrateResult {
  from: number;
  to: number;
  applied: string[];
}

/**
 * Applies every migration newer than the database, each in its own transaction together with the
 * record of it, so a crash leaves the database at a whole version. A database from a newer mailroom
 * is refused rather than run against code that does not know its tables.
 */
export function migrate(db: Db, migrations = listMigrations(), file = 'the database'): MigrateResult {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const from = schemaVersion(db);
  const latest = migrations.length;
  if (from > latest) {
    throw new MailroomError(
      ErrorCodes.DB_TOO_NEW,
      `${file} is at schema version ${from}, but this mailroom only knows versions up to ${latest}: it was written by a newer mailroom. Run that version, or restore a backup made with this one.`,
      { from, latest },
    );
  }
  const applied: string[] = [];
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of migrations) {
    if (m.version <= from) continue;
    try {
      db.transaction(() => {
        db.exec(m.sql);
        record.run(m.version, m.name, new Date().toISOString());
        db.pragma(`user_version = ${m.version}`);
      }).immediate();
    } catch (err) {
      throw new MailroomError(
        ErrorCodes.DB_MIGRATION_FAILED,
        `migration ${String(m.version).padStart(4, '0')}_${m.name} failed on ${file}: ${(err as Error).message}; the database is unchanged at version ${schemaVersion(db)}`,
        undefined,
        { cause: err },
      );
    }
    applied.push(`${String(m.version).padStart(4, '0')}_${m.name}`);
  }
  return { from, to: schemaVersion(db), applied };
}
