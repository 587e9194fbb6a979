import { listMigrations, migrate, openDatabase } from '../../store/index.ts';
import type { Command } from '../command.ts';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'bring the database schema up to date (start does this too)',
  usage: '',
  async run(ctx) {
    const config = ctx.config();
    const db = openDatabase(config.paths.dbFile);
    try {
      const res = migrate(db, listMigrations(), config.paths.dbFile);
      ctx.out(
        res.applied.length
          ? `${config.paths.dbFile}: schema ${res.from} -> ${res.to} (${res.applied.join(', ')})`
          : `${config.paths.dbFile}: schema ${res.to}, up to date`,
      );
    } finally {
      db.close();
    }
    return 0;
  },
};
