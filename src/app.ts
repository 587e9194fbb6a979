import type { FastifyInstance } from 'fastify';
import type { Config } from './config/index.ts';
import { type Clock, type Logger, systemClock } from './lib/index.ts';
import { type Db, migrate, openDatabase } from './store/index.ts';
import { buildWebServer } from './web/index.ts';

/**
 * The composition root: the only place concrete services are built from config. Everything else
 * receives its collaborators (db, clock, transport, queue) as arguments.
 */

export type Role = 'poller' | 'scheduler' | 'workers' | 'web';
export const ALL_ROLES: Role[] = ['poller', 'scheduler', 'workers', 'web'];

export interface AppDeps {
  config: Config;
  logger: Logger;
  clock?: Clock;
}

interface Service {
  name: string;
  stop(): Promise<void>;
}

export interface App {
  config: Config;
  db: Db;
  logger: Logger;
  clock: Clock;
  /** Address of the web server once the web role runs. */
  webUrl: string | null;
  web: FastifyInstance | null;
  start(roles: Role[]): Promise<void>;
  /** Stops every role (newest first) and closes the database; never takes longer than timeoutMs. */
  stop(timeoutMs?: number): Promise<void>;
}

export function openStore(config: Config, logger: Logger): Db {
  const db = openDatabase(config.paths.dbFile);
  const res = migrate(db, undefined, config.paths.dbFile);
  if (res.applied.length > 0)
    logger.info({ from: res.from, to: res.to, applied: res.applied }, 'database migrated');
  return db;
}

export async function createApp(deps: AppDeps): Promise<App> {
  const { config, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const db = openStore(config, logger);
  const services: Service[] = [];

  const app: App = {
    config,
    db,
    logger,
    clock,
    webUrl: null,
    web: null,
    async start(roles) {
      if (roles.includes('web')) {
        const web = buildWebServer({ config, db, logger });
        await web.listen({ host: config.web.host, port: config.web.port });
        const addr = web.server.address();
        const port = typeof addr === 'object' && addr ? addr.port : config.web.port;
        app.web = web;
        app.webUrl = `http://${config.web.host.includes(':') ? `[${config.web.host}]` : config.web.host}:${port}`;
        services.push({ name: 'web', stop: () => web.close() });
        logger.info({ url: app.webUrl }, 'web server listening');
      }
    },
    async stop(timeoutMs = 9000) {
      const deadline = Date.now() + timeoutMs;
      for (const s of services.reverse()) {
        const left = Math.max(0, deadline - Date.now());
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((r) => {
          timer = setTimeout(() => r('timeout'), left);
        });
        const res = await Promise.race([
          s.stop().then(
            () => 'ok' as const,
            (e: unknown) => e,
          ),
          timedOut,
        ]);
        clearTimeout(timer);
        if (res === 'timeout') logger.warn({ service: s.name }, 'service did not stop in time; leaving it');
        else if (res !== 'ok') logger.warn({ service: s.name, err: res }, 'service failed to stop cleanly');
      }
      services.length = 0;
      if (db.open) db.close();
    },
  };
  return app;
}
