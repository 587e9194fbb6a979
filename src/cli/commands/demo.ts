import { rmSync } from 'node:fs';
import { ALL_ROLES, createApp } from '../../app.ts';
import { createLogger } from '../../lib/index.ts';
import type { Command } from '../command.ts';
import { caughtMailPage } from '../demo/caught-mail-page.ts';
import { demoConfig } from '../demo/config.ts';
import { runUntilSignal } from '../run-until-signal.ts';

export const demo: Command = {
  name: 'demo',
  summary: 'see mailroom work in one command: sample mail, a built-in SMTP catcher and the web UI',
  usage: '',
  help: [
    'Runs the embedded default with its own data dir (<data_dir>/demo, emptied at every start), so',
    'demo data never mixes with real mail. It imports sample customer mail in English, Simplified and Traditional Chinese',
    '(sorted by the shipped rules, with SLA clocks and acknowledgements), places an order (its',
    'confirmation goes out at once: the demo has no quiet hours) and sends a newsletter. Outgoing',
    'mail goes to an in-process SMTP catcher, never to the internet; see it at /demo/mail ("Caught',
    'mail" in the staff navigation). Logs show warnings only unless MAILROOM_LOG_LEVEL is set.',
  ].join('\n'),
  async run(ctx) {
    // Loaded when run: the catcher (smtp-server) and the seeding (the web barrel) are the demo's.
    const [{ startMailCatcher }, { demoLogin, seedDemo }] = await Promise.all([
      import('../demo/catcher.ts'),
      import('../demo/seed.ts'),
    ]);
    const catcher = await startMailCatcher();
    const config = demoConfig(ctx.config(), catcher);
    // Every run starts afresh, so what the catcher shows matches what the inbox shows.
    rmSync(config.paths.dataDir, { recursive: true, force: true });
    // The demo's own lines (URL, login) are what a newcomer needs to see: JSON logs only for
    // warnings, unless MAILROOM_LOG_LEVEL asks for more.
    const logger = process.env.MAILROOM_LOG_LEVEL ? ctx.logger() : createLogger({ level: 'warn' });
    const app = await createApp({
      config,
      logger,
      acknowledgeImports: true,
      staffPlugins: [
        {
          prefix: '/demo/mail',
          roles: ['admin', 'agent', 'marketer'],
          plugin: caughtMailPage(catcher),
          nav: { href: '/demo/mail', label: 'Caught mail' },
        },
      ],
    });
    const code = await runUntilSignal(app, async () => {
      await app.start(ALL_ROLES);
      const login = await demoLogin(app);
      const seeded = await seedDemo(app);
      ctx.out('');
      ctx.out(`  mailroom demo is running at ${app.webUrl}`);
      ctx.out(`  log in as "${login.username}" with password "${login.password}"`);
      ctx.out(
        `  ${seeded.imported} sample mails imported; mail mailroom sends is caught at ${app.webUrl}/demo/mail`,
      );
      ctx.out('  press Ctrl+C to stop');
      ctx.out('');
    });
    await catcher.close();
    return code;
  },
};
