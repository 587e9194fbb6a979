import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from '../config/index.ts';
import type { Logger } from '../lib/index.ts';
import type { Db } from '../store/index.ts';

export interface WebDeps {
  config: Config;
  db: Db;
  logger: Logger;
}

/** Builds the HTTP app without listening, so tests can use inject() and the CLI can listen. */
export function buildWebServer(deps: WebDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'web' }) as FastifyBaseLogger,
    disableRequestLogging: true,
    trustProxy: deps.config.web.trust_proxy,
  });

  app.get('/healthz', async (_req, reply) => {
    try {
      deps.db.prepare('SELECT 1').get();
      return { status: 'ok' };
    } catch (e) {
      reply.code(503);
      return { status: 'error', error: (e as Error).message };
    }
  });

  return app;
}
