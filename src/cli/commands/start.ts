import { ALL_ROLES, createApp } from '../../app.ts';
import type { Command } from '../command.ts';
import { runUntilSignal } from '../run-until-signal.ts';

export const start: Command = {
  name: 'start',
  needsMailSecrets: true,
  summary: 'run everything in one process: IMAP poller, scheduler, send workers and web server',
  usage: '',
  help: 'Runs until SIGINT or SIGTERM, then shuts down gracefully (exit 0 within 10 s).',
  async run(ctx) {
    const config = ctx.config();
    const app = await createApp({ config, logger: ctx.logger() });
    return runUntilSignal(app, () => app.start(ALL_ROLES));
  },
};

export const worker: Command = {
  name: 'worker',
  needsMailSecrets: true,
  summary: 'run send workers only (scale out: set MAILROOM_REDIS_URL and run this on more machines)',
  usage: '',
  async run(ctx) {
    const config = ctx.config();
    const app = await createApp({ config, logger: ctx.logger() });
    return runUntilSignal(app, () => app.start(['workers']));
  },
};
