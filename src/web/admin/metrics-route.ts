import type { FastifyInstance } from 'fastify';
import { requireStaff } from '../auth/guard.ts';
import { safeEqual } from '../auth/sessions.ts';
import type { WebContext } from '../context.ts';
import { prometheusText, storeMetrics } from './metrics.ts';

const BEARER = /^Bearer[ \t]+(\S+)\s*$/i;

/**
 * GET /metrics: counts of mail, conversations, SLA state and queue depth. They say how busy the
 * shop is and how it answers, so they are not public: a scraper sends
 * `Authorization: Bearer <MAILROOM_METRICS_TOKEN>`, and an admin can open the page signed in.
 * A bearer token that is not the metrics token is refused with 401 (a scraper wants a status, not
 * the login page); a request without one is treated like any staff page.
 */
export function registerMetricsRoute(app: FastifyInstance, ctx: WebContext): void {
  const { deps, db, clock } = ctx;
  const token = deps.config.credentials.metricsToken;
  const staffOnly = requireStaff(ctx, ['admin']);

  app.get(
    '/metrics',
    {
      preHandler: async (req, reply) => {
        // Another scheme (a proxy's Basic login, say) is not a scrape: the session decides.
        const auth = req.headers.authorization;
        if (auth === undefined || !/^Bearer\b/i.test(auth)) return staffOnly(req, reply);
        const presented = BEARER.exec(auth)?.[1];
        if (token && presented && safeEqual(presented, token)) return;
        reply.header('www-authenticate', 'Bearer realm="mailroom metrics", error="invalid_token"');
        return reply
          .code(401)
          .type('text/plain; charset=utf-8')
          .send(
            token
              ? 'the bearer token is not the metrics token'
              : 'no metrics token is configured: set MAILROOM_METRICS_TOKEN (or secrets.metrics_token_env)',
          );
      },
    },
    async (_req, reply) => {
      const values = { ...storeMetrics(db, ctx.features, clock.now()), ...(deps.metrics?.() ?? {}) };
      let text = prometheusText(values);
      if (deps.queueCounts) {
        const q = await deps.queueCounts().catch(() => null);
        if (q) {
          text += '# HELP mailroom_queue_jobs Jobs per queue and state.\n# TYPE mailroom_queue_jobs gauge\n';
          for (const [name, counts] of Object.entries(q))
            for (const [state, n] of Object.entries(counts))
              text += `mailroom_queue_jobs{queue="${name.replace(/["\\\n]/g, '_')}",state="${state}"} ${n}\n`;
        }
      }
      return reply.type('text/plain; version=0.0.4; charset=utf-8').send(text);
    },
  );
}
