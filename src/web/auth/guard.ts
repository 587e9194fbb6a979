import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendMessage, type WebContext } from '../context.ts';
import { SESSION_COOKIE, safeEqual } from './sessions.ts';
import type { Role } from './users.ts';

/** Root hook: attaches the session (if any) to every request, so any page can show who is logged in. */
export function attachSession(app: FastifyInstance, ctx: WebContext): void {
  app.decorateRequest('staff', null);
  app.decorateRequest('sessionId', null);
  app.addHook('onRequest', async (req) => {
    const id = req.cookies[SESSION_COOKIE];
    if (!id) return;
    const s = ctx.sessions.get(id);
    if (s) {
      req.staff = s;
      req.sessionId = id;
    }
  });
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The CSRF token a request carries: the hidden form field, or the header fetch() sends. */
export function csrfFrom(req: FastifyRequest): string {
  const header = req.headers['x-csrf-token'];
  if (typeof header === 'string' && header) return header;
  const body = req.body as Record<string, unknown> | undefined;
  return typeof body?._csrf === 'string' ? body._csrf : '';
}

/**
 * The hook every staff route runs: no session -> login page (GET) or 401; a state-changing request
 * without this session's CSRF token -> 403; a role not in `roles` -> 403.
 */
export function requireStaff(ctx: WebContext, roles?: Role[]) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const s = req.staff;
    if (!s) {
      if (req.method === 'GET' && !req.headers['x-csrf-token']) {
        const next = encodeURIComponent(req.url);
        return reply.redirect(`/login?next=${next}`, 302);
      }
      return reply.code(401).type('text/plain; charset=utf-8').send('log in first');
    }
    if (UNSAFE.has(req.method) && !safeEqual(csrfFrom(req), s.csrfToken)) {
      return sendMessage(ctx, req, reply, 403, 'csrf_failed');
    }
    if (roles && !roles.includes(s.user.role)) return sendMessage(ctx, req, reply, 403, 'forbidden');
  };
}
