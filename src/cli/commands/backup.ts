import { backupDatabase, openDatabase } from '../../store/index.ts';
import { type Command, UsageError } from '../command.ts';

export const backup: Command = {
  name: 'backup',
  summary: 'write a consistent copy of the database to FILE, safe while mailroom runs',
  usage: 'FILE',
  help: 'Raw mail and attachments live in <data_dir>/blobs: copy that folder too (files never change once written).',
  async run(ctx) {
    const target = ctx.positionals[0];
    if (!target || ctx.positionals.length > 1)
      throw new UsageError('expected exactly one FILE to write the backup to');
    const config = ctx.config();
    const db = openDatabase(config.paths.dbFile, { readonly: true });
    try {
      const res = await backupDatabase(db, target);
      ctx.out(`backup written: ${res.file} (${res.pages} pages); also copy ${config.paths.blobDir}`);
    } finally {
      db.close();
    }
    return 0;
  },
};
