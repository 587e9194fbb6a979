import { ingestFromConfig } from '../../ingest/index.ts';
import { createLogger, systemClock } from '../../lib/index.ts';
import { migrate, openDatabase } from '../../store/index.ts';
import { type Command, UsageError } from '../command.ts';

export const reprocessCommand: Command = {
  name: 'reprocess',
  summary:
    'parse stored mail again from the raw copies (after an upgrade); conversations keep department and urgency',
  usage: '[--id N] [--json]',
  options: { id: { type: 'string' }, json: { type: 'boolean' } },
  help: [
    'Parses each inbound message again from its raw copy and updates its text, headers, attachments',
    'and flags (auto_reply, bounce, bulk ...). Rules are not run again: conversations keep their',
    'department and urgency. "mailroom rules replay" shows what the current rules would change',
    '(it changes nothing); staff move a conversation from its page in the web UI.',
  ].join('\n'),
  async run(ctx) {
    if (ctx.positionals.length > 0)
      throw new UsageError(`unexpected arguments: ${ctx.positionals.join(' ')}; use --id N for one message`);
    const one = ctx.values.id === undefined ? null : Number(ctx.values.id);
    if (one !== null && !Number.isInteger(one)) throw new UsageError('--id expects a message number');
    const config = ctx.config();
    const logger = createLogger({ level: config.log_level, pretty: false, destination: process.stderr });
    const db = openDatabase(config.paths.dbFile);
    try {
      migrate(db, undefined, config.paths.dbFile);
      const { pipeline } = ingestFromConfig({ config, db, clock: systemClock, logger });
      const ids =
        one !== null
          ? [one]
          : (
              db
                .prepare(
                  "SELECT id FROM messages WHERE direction = 'in' AND raw_sha256 IS NOT NULL ORDER BY id",
                )
                .all() as Array<{ id: number }>
            ).map((r) => r.id);
      const sum = { reprocessed: 0, parseErrors: 0, failed: 0 };
      for (const id of ids) {
        try {
          const r = await pipeline.reprocess(id);
          sum.reprocessed++;
          if (r.parseError) sum.parseErrors++;
        } catch (err) {
          sum.failed++;
          logger.warn({ id, err }, 'reprocess failed');
        }
      }
      ctx.out(
        ctx.values.json
          ? JSON.stringify(sum)
          : `reprocessed ${sum.reprocessed}, parse errors ${sum.parseErrors}, failed ${sum.failed}`,
      );
      return sum.failed > 0 ? 1 : 0;
    } finally {
      db.close();
    }
  },
};
