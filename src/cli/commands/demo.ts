import path from 'node:path';
import { ALL_ROLES, createApp } from '../../app.ts';
import type { Config } from '../../config/index.ts';
import type { Command } from '../command.ts';
import { runUntilSignal } from '../run-until-signal.ts';
import { startMailCatcher } from './demo-catcher.ts';

export const demo: Command = {
  name: 'demo',
  summary: 'see mailroom work in one command: sample mail, a built-in SMTP catcher and the web UI',
  usage: '',
  help: [
    'Runs the embedded default with its own data dir (<data_dir>/demo), so demo data never mixes',
    'with real mail. Outgoing mail goes to an in-process SMTP catcher, not to the internet.',
  ].join('\n'),
  async run(ctx) {
    const base = ctx.config();
    const catcher = await startMailCatcher();
    const dataDir = path.join(base.paths.dataDir, 'demo');
    const config: Config = {
      ...base,
      smtp: { ...base.smtp, host: catcher.host, port: catcher.port, tls: 'none' },
      imap: { ...base.imap, accounts: [] },
      paths: {
        ...base.paths,
        dataDir,
        dbFile: path.join(dataDir, 'mailroom.sqlite'),
        blobDir: path.join(dataDir, 'blobs'),
      },
    };
    const app = await createApp({ config, logger: ctx.logger() });
    await app.start(ALL_ROLES);
    ctx.out('');
    ctx.out(`  mailroom demo is running at ${app.webUrl}`);
    ctx.out(`  outgoing mail is caught locally on smtp://${catcher.host}:${catcher.port}`);
    ctx.out('  press Ctrl+C to stop');
    ctx.out('');
    const code = await runUntilSignal(app);
    await catcher.close();
    return code;
  },
};
