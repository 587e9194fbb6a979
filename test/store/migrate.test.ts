import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMailroomError } from '../../src/lib/index.ts';
import { listMigrations, migrate, openDatabase, schemaVersion } from '../../src/store/index.ts';
import { tempDir } from '../harness/index.ts';

describe('store', () => {
  it('opens in WAL mode with foreign keys on and applies every migration once', () => {
    const file = path.join(tempDir(), 'm.sqlite');
    const db = openDatabase(file);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    const first = migrate(db);
    expect(first.from).toBe(0);
    expect(first.to).toBe(listMigrations().length);
    const again = migrate(db);
    expect(again.applied).toEqual([]);
    const recorded = db.prepare('SELECT count(*) AS n FROM schema_migrations').get() as { n: number };
    expect(recorded.n).toBe(listMigrations().length);
    db.close();
  });

  it('refuses a database written by a newer mailroom', () => {
    const db = openDatabase(':memory:');
    migrate(db);
    db.pragma(`user_version = ${schemaVersion(db) + 5}`);
    try {
      migrate(db, undefined, 'data/mailroom.sqlite');
      expect.unreachable();
    } catch (e) {
      expect(isMailroomError(e, 'DB_TOO_NEW')).toBe(true);
      expect((e as Error).message).toMatch(
        /data\/mailroom.sqlite is at schema version \d+, but this mailroom only knows versions up to \d+/,
      );
    }
  });

  it('leaves the database at the last whole version when a migration fails', () => {
    const db = openDatabase(':memory:');
    const ok = listMigrations();
    const broken = [
      ...ok,
      { version: ok.length + 1, name: 'broken', sql: 'CREATE TABLE zz (a); SELECT * FROM no_such_table;' },
    ];
    expect(() => migrate(db, broken)).toThrow(/migration \d{4}_broken failed/);
    expect(schemaVersion(db)).toBe(ok.length);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'zz'").get()).toBeUndefined();
  });

  it('enforces foreign keys', () => {
    const db = openDatabase(':memory:');
    migrate(db);
    expect(() =>
      db
        .prepare(
          "INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, received_at) VALUES (999, 'in', 'x', 'x', 0)",
        )
        .run(),
    ).toThrow(/FOREIGN KEY/);
  });
});

describe('backup', () => {
  it('writes a consistent copy that opens at the same schema version and refuses to overwrite', async () => {
    const { backupDatabase } = await import('../../src/store/index.ts');
    const dir = tempDir();
    const db = openDatabase(path.join(dir, 'live.sqlite'));
    migrate(db);
    db.prepare(
      "INSERT INTO customers (email, base_email, first_contact_at, last_contact_at, created_at) VALUES ('a@b.c', 'a@b.c', 1, 1, 1)",
    ).run();
    const res = await backupDatabase(db, path.join(dir, 'copy.sqlite'));
    const copy = openDatabase(res.file, { readonly: true });
    expect(schemaVersion(copy)).toBe(schemaVersion(db));
    expect(copy.prepare('SELECT email FROM customers').all()).toEqual([{ email: 'a@b.c' }]);
    await expect(backupDatabase(db, res.file)).rejects.toThrow(/already exists/);
  });
});
