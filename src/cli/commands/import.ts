import { createApp } from '../../app.ts';
import { type ImportProgress, importPath } from '../../ingest/index.ts';
import { createLogger } from '../../lib/index.ts';
import { type Command, UsageError } from '../command.ts';

function progressLine(p: ImportProgress): string {
  return `\r${p.done} messages: ${p.imported} imported, ${p.duplicates} duplicates, ${p.parseErrors} parse errors, ${p.failed} failed`;
}

export const importCommand: Command = {
  name: 'import',
  summary: 'import mail from an .eml file, a folder of them, a Maildir or an mbox',
  usage: 'PATH [--json]',
  options: { json: { type: 'boolean' } },
  help: [
    'Feeds every message through the same pipeline as IMAP: dedupe, threading, flags, rules, SLA.',
    'Imported mail is history: it never triggers an automatic acknowledgement.',
    'Running it again is safe: messages already stored count as duplicates.',
    'Prints a summary (imported, duplicates, parse errors, failed); --json prints it as one JSON object.',
    'Exit code 1 when any message failed.',
  ].join('\n'),
  async run(ctx) {
    const target = ctx.positionals[0];
    if (!target || ctx.positionals.length > 1) throw new UsageError('expected exactly one PATH to import');
    const config = ctx.config();
    // Logs go to stderr so --json output on stdout stays one parseable object.
    const logger = createLogger({ level: config.log_level, pretty: false, destination: process.stderr });
    const app = await createApp({ config, logger });
    try {
      const { pipeline } = app;
      const tty = Boolean(process.stderr.isTTY);
      let last = 0;
      const sum = await importPath(target, {
        pipeline,
        logger,
        onProgress: (p) => {
          if (!tty || Date.now() - last < 100) return;
          last = Date.now();
          process.stderr.write(progressLine(p));
        },
      });
      if (tty) process.stderr.write('\n');
      if (ctx.values.json) ctx.out(JSON.stringify(sum));
      else
        ctx.out(
          `imported ${sum.imported}, duplicates ${sum.duplicates}, parse errors ${sum.parseErrors}, failed ${sum.failed}`,
        );
      return sum.failed > 0 ? 1 : 0;
    } finally {
      await app.stop();
    }
  },
};
