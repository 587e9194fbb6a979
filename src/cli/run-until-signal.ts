import type { App } from '../app.ts';

/**
 * Runs `start` and keeps the process up until SIGINT/SIGTERM, then stops the app: no new work is
 * taken, jobs in flight finish or are released, connections close, and the process exits 0
 * within 10 s. The handlers are in place before `start` runs: a signal that arrives while the
 * app is still starting (the poller may already be storing mail) waits for the start to finish
 * and then shuts down gracefully, instead of Node's default of dying on the spot. A start that
 * fails stops what it had started, then rejects with its error.
 */
export function runUntilSignal(app: App, start: () => Promise<void>): Promise<number> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    let started: Promise<void> = Promise.resolve();
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        app.logger.info({ signal: sig }, 'already stopping (a second one stops at once)');
        return;
      }
      stopping = true;
      app.logger.info({ signal: sig }, 'shutting down');
      const hardStop = setTimeout(() => {
        app.logger.error('shutdown took longer than 10 s; exiting anyway');
        resolve(1);
      }, 10_000);
      hardStop.unref();
      let startError: unknown = null;
      started
        .catch((e: unknown) => {
          startError = e;
        })
        .then(() => app.stop(9000))
        .then(() => {
          clearTimeout(hardStop);
          if (startError) {
            // The signal came while starting, and the start then failed: say why, exit 1.
            app.logger.error({ err: startError }, 'start failed');
            resolve(1);
            return;
          }
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
    started = start();
    started.catch((e: unknown) => {
      if (stopping) return;
      // What had started (workers, the poller, timers) is stopped, or it would keep the process
      // running after the error was reported (a web port in use left it up for good).
      stopping = true;
      app
        .stop(9000)
        .catch((stopErr: unknown) => app.logger.warn({ err: stopErr }, 'stop after a failed start failed'))
        .finally(() => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          reject(e);
        });
    });
  });
}
