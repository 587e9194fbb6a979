import { allMailboxStatus } from '../../ingest/index.ts';
import { migrate, openDatabase } from '../../store/index.ts';
import { type Command, UsageError } from '../command.ts';

const when = (t: number | null) => (t === null ? 'never' : new Date(t).toISOString());

export const accountsCommand: Command = {
  name: 'accounts',
  summary: 'show IMAP accounts: messages on the server vs ingested, last poll, errors, UID gaps',
  usage: 'status [--json]',
  options: { json: { type: 'boolean' } },
  help: [
    'Reads what the running poller recorded; safe while mailroom runs.',
    'Exits 1 when any mailbox has an error or UIDs it did not ingest (with --json too), else 0.',
  ].join('\n'),
  async run(ctx) {
    if (ctx.positionals[0] !== 'status' || ctx.positionals.length > 1)
      throw new UsageError('expected "accounts status"');
    const config = ctx.config();
    const db = openDatabase(config.paths.dbFile);
    try {
      migrate(db, undefined, config.paths.dbFile);
      const rows = allMailboxStatus(db, config.imap.accounts);
      // The same exit code for both forms, so a script can check --json output or just the code.
      const code = rows.some((r) => r.lastError || r.uidGaps.length) ? 1 : 0;
      if (ctx.values.json) {
        ctx.out(JSON.stringify(rows));
        return code;
      }
      if (rows.length === 0) {
        ctx.out('no IMAP accounts configured (imap.accounts in mailroom.yaml)');
        return 0;
      }
      for (const r of rows) {
        ctx.out(`${r.account} / ${r.mailbox}`);
        ctx.out(
          `  on server: ${r.serverMessages ?? 'unknown'}   ingested: ${r.ingested}   last UID: ${r.lastUid ?? '-'}`,
        );
        ctx.out(`  last poll: ${when(r.lastPollAt)}`);
        if (r.lastError) ctx.out(`  last error: ${r.lastError} (${when(r.lastErrorAt)})`);
        if (r.uidGaps.length) ctx.out(`  UIDs not ingested: ${r.uidGaps.join(', ')}`);
      }
      return code;
    } finally {
      db.close();
    }
  },
};
