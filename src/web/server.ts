import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { loadSessionSecret } from '../config/index.ts';
import { isMailroomError, systemClock } from '../lib/index.ts';
import { registerMetricsRoute } from './admin/metrics-route.ts';
import { registerAdminRoutes } from './admin/routes.ts';
import { attachSession, requireStaff } from './auth/guard.ts';
import { createLoginThrottle } from './auth/login-throttle.ts';
import { registerAuthRoutes, registerLogout } from './auth/routes.ts';

import { createSessionStore } from './auth/sessions.ts';
import { sendMessage, type WebContext } from './context.ts';
import { registerConversationRoutes } from './conversation/routes.ts';
import type { WebDeps } from './deps.ts';
import { detectFeatures } from './inbox/query.ts';
import { registerInboxRoutes } from './inbox/routes.ts';
import { createRenderer } from './render.ts';
import { addSecurityHeaders } from './security-headers.ts';

export type { WebDeps } from './deps.ts';

const STATIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'static');

/** Builds the HTTP app without listening, so tests can use inject() and the CLI can listen. */
export function buildWebServer(deps: WebDeps): FastifyInstance {
  const { config, db } = deps;
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'web' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // Only the reverse proxy in front (hop 0) is trusted. `true` would trust every X-Forwarded-For
    // entry, so a client could write its own address and step around the per-address login throttle.
    trustProxy: config.web.trust_proxy ? (_address: string, hop: number) => hop < 1 : false,
  });
  const clock = deps.clock ?? systemClock;
  const secret = loadSessionSecret(config.credentials.sessionSecret, config.paths.dataDir);
  const httpsPublic = (config.web.public_url ?? '').startsWith('https:');
  const ctx: WebContext = {
    deps,
    db,
    clock,
    // Optional tables (SLA clocks, rule decisions, IMAP checkpoints) are looked up once, here.
    features: detectFeatures(db),
    render: createRenderer(),
    sessions: createSessionStore(db, clock, secret),
    throttle: createLoginThrottle(db, clock),
    secureCookie: (req) => httpsPublic || (config.web.trust_proxy && req.protocol === 'https'),
  };

  app.register(fastifyCookie);
  app.register(fastifyFormbody);
  app.register(fastifyStatic, { root: STATIC_DIR, prefix: '/static/', maxAge: '1h', index: false });
  addSecurityHeaders(app);
  attachSession(app, ctx);
  const staffNav = (deps.staffPlugins ?? []).flatMap((p) => (p.nav ? [{ ...p.nav, roles: p.roles }] : []));
  app.decorateRequest('staffNav', null);
  app.addHook('onRequest', async (req) => {
    req.staffNav = staffNav;
  });

  app.setErrorHandler((err, req, reply) => {
    if (isMailroomError(err, 'VALIDATION'))
      return sendMessage(ctx, req, reply, 400, 'not_found', err.message);
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) req.log.error({ err, url: req.url }, 'request failed');
    reply.code(status);
    return reply
      .type('text/plain; charset=utf-8')
      .send(status >= 500 ? 'internal error' : (err as Error).message);
  });
  app.setNotFoundHandler((req, reply) => sendMessage(ctx, req, reply, 404, 'not_found'));

  app.register(async (pub) => {
    pub.get('/healthz', async (_req, reply) => {
      try {
        db.prepare('SELECT 1').get();
        return { status: 'ok' };
      } catch (e) {
        reply.code(503);
        return { status: 'error', error: (e as Error).message };
      }
    });

    registerAuthRoutes(pub, ctx);
  });

  // Prometheus text for a scraper with the metrics token, or for an admin signed in.
  app.register(async (scrape) => registerMetricsRoute(scrape, ctx));

  // Staff pages: a session on every route, the CSRF token on every POST.
  app.register(async (staff) => {
    staff.addHook('preHandler', requireStaff(ctx));
    // Each role's own first page: a marketer has no inbox (it answered their login with a 403).
    staff.get('/', async (req, reply) =>
      reply.redirect(req.staff?.user.role === 'marketer' ? '/lists-admin' : '/inbox', 302),
    );
    registerLogout(staff, ctx);
    staff.register(async (desk) => {
      desk.addHook('preHandler', requireStaff(ctx, ['admin', 'agent']));
      registerInboxRoutes(desk, ctx);
      registerConversationRoutes(desk, ctx);
    });
    staff.register(async (admin) => {
      admin.addHook('preHandler', requireStaff(ctx, ['admin']));
      registerAdminRoutes(admin, ctx);
    });
    for (const extra of deps.staffPlugins ?? []) {
      staff.register(
        async (scope) => {
          scope.addHook('preHandler', requireStaff(ctx, extra.roles));
          await scope.register(extra.plugin);
        },
        { prefix: extra.prefix },
      );
    }
  });

  return app;
}
