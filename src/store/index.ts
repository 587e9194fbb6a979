export { backupDatabase } from './backup.ts';
export { cjkBigrams, isCjkTerm, registerStoreFunctions } from './cjk.ts';
export { type Db, inTransaction, type OpenOptions, openDatabase, prepareCached } from './db.ts';
export {
  listMigrations,
  MIGRATIONS_DIR,
  type MigrateResult,
  type Migration,
  migrate,
  schemaVersion,
} from './migrate.ts';
