import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../lib/index.ts';
import type { Db } from '../store/index.ts';
import type { LoginThrottle } from './auth/login-throttle.ts';
import type { Session, SessionStore } from './auth/sessions.ts';
import type { WebDeps } from './deps.ts';
import { localeFromHeader, translate } from './i18n/messages.ts';
import type { SchemaFeatures } from './inbox/query.ts';
import type { NavLink, PageContext, Renderer } from './render.ts';

declare module 'fastify' {
  interface FastifyRequest {
    staff: Session | null;
    sessionId: string | null;
    /** Links staff plugins add to the navigation, with the roles that see them. */
    staffNav: ReadonlyArray<NavLink & { roles: readonly string[] }> | null;
  }
}

/** What every route module gets: the deps plus the services built once per server. */
export interface WebContext {
  deps: WebDeps;
  db: Db;
  clock: Clock;
  features: SchemaFeatures;
  render: Renderer;
  sessions: SessionStore;
  throttle: LoginThrottle;
  /** Whether cookies get the Secure flag for this request (TLS in front, or a https public URL). */
  secureCookie(req: FastifyRequest): boolean;
}

export function pageContext(req: FastifyRequest, title: string): PageContext {
  const s = req.staff;
  return {
    user: s?.user ?? null,
    csrfToken: s?.csrfToken ?? '',
    locale: s?.user.locale ?? localeFromHeader(req.headers['accept-language']),
    title,
    nav: s ? (req.staffNav ?? []).filter((l) => l.roles.includes(s.user.role)) : [],
  };
}

/** Session user of a staff route; the guard hook guarantees it exists there. */
export function staffOf(req: FastifyRequest): Session {
  if (!req.staff) throw new Error('staff route reached without a session');
  return req.staff;
}

export function sendPage(
  ctx: WebContext,
  req: FastifyRequest,
  reply: FastifyReply,
  view: string,
  titleKey: string,
  data: Record<string, unknown>,
): FastifyReply {
  const page = {
    ...pageContext(req, translate(pageContext(req, '').locale, titleKey)),
    now: ctx.clock.now(),
  };
  return reply.type('text/html; charset=utf-8').send(ctx.render(view, page, data));
}

export function sendMessage(
  ctx: WebContext,
  req: FastifyRequest,
  reply: FastifyReply,
  status: number,
  key: string,
  detail?: string,
): FastifyReply {
  reply.code(status);
  return sendPage(ctx, req, reply, 'message', key, { key, detail });
}
