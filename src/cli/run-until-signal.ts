import type { App } from '../app.ts';

/**
 * Keeps the process up until SIGINT/SIGTERM, then stops the app: no new work is taken, jobs in
 * flight finish or are released, connections close, and the process exits 0 within 10 s.
 */
export function runUntilSignal(app: App): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      app.logger.info({ signal: sig }, 'shutting down');
      const hardStop = setTimeout(() => {
        app.logger.error('shutdown took longer than 10 s; exiting anyway');
        resolve(1);
      }, 10_000);
      hardStop.unref();
      app
        .stop(9000)
        .then(() => {
          clearTimeout(hardStop);
          app.logger.info('stopped');
          resolve(0);
        })
        .catch((e: unknown) => {
          clearTimeout(hardStop);
          app.logger.error({ err: e }, 'shutdown failed');
          resolve(1);
        });
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}
