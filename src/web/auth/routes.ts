import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { pageContext, sendPage, type WebContext } from '../context.ts';
import { translate } from '../i18n/messages.ts';
import { SESSION_COOKIE, SESSION_TTL_MS, safeEqual } from './sessions.ts';
import { checkPassword } from './users.ts';

const LOGIN_CSRF_COOKIE = 'mr_login';

/** Only same-site paths: "//evil.example" and "/\\evil" would leave the site. */
function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])/.test(next) ? next : '/';
}

function loginForm(ctx: WebContext, req: FastifyRequest, reply: FastifyReply, error?: string, status = 200) {
  const token = randomBytes(24).toString('base64url');
  // Before login there is no session: a double-submit cookie ties the form to this browser.
  reply.setCookie(LOGIN_CSRF_COOKIE, token, {
    path: '/login',
    httpOnly: true,
    sameSite: 'lax',
    secure: ctx.secureCookie(req),
  });
  const q = req.query as { next?: string };
  reply.code(status);
  return sendPage(ctx, req, reply, 'login', 'login', {
    loginCsrf: token,
    next: safeNext(q.next ?? (req.body as { next?: string } | undefined)?.next),
    error,
  });
}

export function registerAuthRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get('/login', async (req, reply) => {
    if (req.staff) return reply.redirect(safeNext((req.query as { next?: string }).next), 303);
    return loginForm(ctx, req, reply);
  });

  app.post('/login', async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const cookieToken = req.cookies[LOGIN_CSRF_COOKIE] ?? '';
    const formToken = typeof body._csrf === 'string' ? body._csrf : '';
    if (!cookieToken || !safeEqual(cookieToken, formToken)) {
      reply.code(403);
      return sendPage(ctx, req, reply, 'message', 'csrf_failed', { key: 'csrf_failed' });
    }
    const username = typeof body.username === 'string' ? body.username.trim().slice(0, 64) : '';
    const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : '';
    // req.ip is the TCP peer unless web.trust_proxy is on; then it is the address the one trusted
    // reverse proxy put last in X-Forwarded-For (Fastify's trustProxy, set in src/web/server.ts to
    // trust exactly one hop). Entries the client wrote itself are never used, so neither the
    // per-address nor the per-address+user limit can be dodged by forging the header. Behind a
    // proxy with trust_proxy off, every client shares the proxy's address and its limits.
    const locked = ctx.throttle.lockedFor(req.ip, username);
    if (locked > 0) {
      const msg = translate(pageContext(req, '').locale, 'login_locked', {
        minutes: Math.ceil(locked / 60000),
      });
      return loginForm(ctx, req, reply, msg, 429);
    }
    const user = username && password ? await checkPassword(ctx.db, username, password) : null;
    if (!user) {
      ctx.throttle.failed(req.ip, username);
      req.log.info({ username, ip: req.ip }, 'login failed');
      return loginForm(ctx, req, reply, translate(pageContext(req, '').locale, 'login_failed'), 401);
    }
    ctx.throttle.succeeded(req.ip, username);
    // A new id at login: a session id planted before login (fixation) is never promoted.
    if (req.sessionId) ctx.sessions.destroy(req.sessionId);
    const s = ctx.sessions.create(user.id);
    reply.clearCookie(LOGIN_CSRF_COOKIE, { path: '/login' });
    reply.setCookie(SESSION_COOKIE, s.id, {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secureCookie(req),
      maxAge: Math.floor(SESSION_TTL_MS / 1000),
    });
    req.log.info({ user: user.username }, 'login');
    return reply.redirect(safeNext(body.next), 303);
  });
}

/** POST /logout lives among the staff routes (session + CSRF required). */
export function registerLogout(app: FastifyInstance, ctx: WebContext): void {
  app.post('/logout', async (req, reply) => {
    if (req.sessionId) ctx.sessions.destroy(req.sessionId);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login', 303);
  });
}
