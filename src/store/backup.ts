import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, MailroomError } from '../lib/index.ts';
import type { Db } from './db.ts';

/**
 * An online, consistent copy of the database (SQLite's backup API), safe while mailroom runs:
 * copying the .sqlite file by hand during WAL writes can miss committed pages.
 */
export async function backupDatabase(db: Db, target: string): Promise<{ file: string; pages: number }> {
  const file = path.resolve(target);
  if (existsSync(file)) {
    throw new MailroomError(
      ErrorCodes.VALIDATION,
      `${file} already exists; choose a new file name for the backup`,
    );
  }
  mkdirSync(path.dirname(file), { recursive: true });
  const res = await db.backup(file);
  return { file, pages: res.totalPages };
}
