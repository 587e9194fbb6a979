import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isMailroomError } from '../../lib/index.ts';
import {
  confirmSubscription,
  getListBySlug,
  type ListsDeps,
  preferences,
  subscribe,
  unsubscribeByToken,
} from '../../lists/index.ts';
import { esc, page } from './html.ts';
import { listsTrackingRoutes } from './tracking.ts';

export interface ListsPublicOptions {
  lists: ListsDeps;
  /** Subscribe requests per address per window (default 10 per minute). */
  subscribeLimit?: { max: number; timeWindowMs: number };
}

/** A field real people never see or fill; bots that fill every input are answered but ignored. */
export const HONEYPOT_FIELD = 'website';

const NEUTRAL =
  'Thank you. If this address can be subscribed, a mail is on its way: follow the link in it to confirm.';

function wantsJson(req: FastifyRequest): boolean {
  return (
    (req.headers['content-type'] ?? '').includes('application/json') ||
    (req.headers.accept ?? '').includes('application/json')
  );
}

function tokenError(reply: FastifyReply, e: unknown, json: boolean) {
  if (!isMailroomError(e)) throw e;
  const status = e.code === 'NOT_FOUND' ? 404 : e.code === 'VALIDATION' ? 400 : 400;
  reply.code(status);
  if (json) return { error: e.code, message: e.message };
  reply.type('text/html; charset=utf-8');
  return page('Link not valid', `<p>${esc(e.message)}</p>`);
}

/**
 * Public list pages: subscribe form, confirm link, preference page, RFC 8058 one-click
 * unsubscribe, and the open/click tracking endpoints. No login or CSRF token on the unsubscribe POST: the signed token is the authority,
 * and mailbox providers POST to it without cookies.
 */
export async function listsPublicRoutes(app: FastifyInstance, opts: ListsPublicOptions): Promise<void> {
  const deps = opts.lists;
  if (!app.hasContentTypeParser('application/x-www-form-urlencoded')) await app.register(formbody);
  // RFC 8058 allows the one-click POST as multipart/form-data too; its body is not needed.
  if (!app.hasContentTypeParser('multipart/form-data')) {
    app.addContentTypeParser('multipart/form-data', { parseAs: 'string' }, (_req, body, done) =>
      done(null, { raw: body }),
    );
  }
  if (!app.hasDecorator('rateLimit')) await app.register(rateLimit, { global: false });
  const limit = opts.subscribeLimit ?? { max: 10, timeWindowMs: 60_000 };

  // Open pixel and click redirect (campaigns with tracking on): /t/o/:token.gif, /t/c/:token.
  listsTrackingRoutes(app, deps);

  app.get<{ Params: { slug: string } }>('/lists/:slug', async (req, reply) => {
    const list = getListBySlug(deps.db, req.params.slug);
    reply.type('text/html; charset=utf-8');
    if (!list?.public) {
      reply.code(404);
      return page('Not found', '<p>There is no such list.</p>');
    }
    return page(
      list.name,
      `<p>${esc(list.description)}</p>
<form method="post" action="/lists/${esc(list.slug)}/subscribe">
<p><label>Email <input type="email" name="email" required></label></p>
<p><label>Name <input type="text" name="name"></label></p>
<p class="hp" aria-hidden="true"><label>Leave empty <input type="text" name="${HONEYPOT_FIELD}" tabindex="-1" autocomplete="off"></label></p>
<p>${esc(list.consent_wording)}</p>
<p><button type="submit">Subscribe</button></p></form>`,
    );
  });

  app.post<{ Params: { slug: string }; Body: Record<string, unknown> | undefined }>(
    '/lists/:slug/subscribe',
    { config: { rateLimit: { max: limit.max, timeWindow: limit.timeWindowMs } } },
    async (req, reply) => {
      const json = wantsJson(req);
      const body = (req.body ?? {}) as Record<string, unknown>;
      const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : '');
      const answer = () => {
        reply.code(202);
        if (json) return { status: 'accepted', message: NEUTRAL };
        reply.type('text/html; charset=utf-8');
        return page('Almost done', `<p>${esc(NEUTRAL)}</p>`);
      };
      if (str(HONEYPOT_FIELD)) {
        req.log.info({ list: req.params.slug }, 'subscribe honeypot filled; ignored');
        return answer();
      }
      try {
        const attributes =
          body.attributes && typeof body.attributes === 'object' && !Array.isArray(body.attributes)
            ? (body.attributes as Record<string, unknown>)
            : {};
        await subscribe(deps, {
          slug: req.params.slug,
          email: str('email'),
          name: str('name') || null,
          locale: str('locale') || (req.headers['accept-language'] ?? '').split(',')[0] || null,
          attributes,
          source: json ? 'api' : 'form',
          ip: req.ip,
          userAgent: req.headers['user-agent'] ?? null,
        });
      } catch (e) {
        return tokenError(reply, e, json);
      }
      return answer();
    },
  );

  app.get<{ Querystring: { token?: string } }>('/lists/confirm', async (req, reply) => {
    try {
      const res = await confirmSubscription(deps, req.query.token ?? '', {
        ip: req.ip,
        userAgent: req.headers['user-agent'] ?? null,
      });
      reply.type('text/html; charset=utf-8');
      return page('Subscription confirmed', `<p>You are subscribed to ${esc(res.list.name)}.</p>`);
    } catch (e) {
      return tokenError(reply, e, false);
    }
  });

  // GET never unsubscribes: link scanners and previews follow GETs (RFC 8058 section 1).
  app.get<{ Params: { token: string } }>('/u/:token', async (req, reply) => {
    try {
      const prefs = preferences(deps, req.params.token);
      const action = `/u/${esc(req.params.token)}`;
      const thisList = prefs.list
        ? `<p><label><input type="radio" name="scope" value="list" checked> Only ${esc(prefs.list.name)}</label></p>`
        : '';
      reply.type('text/html; charset=utf-8');
      reply.header('Cache-Control', 'no-store');
      return page(
        'Unsubscribe',
        `<p>Mail to ${esc(prefs.email)}.</p>
<form method="post" action="${action}">
${thisList}<p><label><input type="radio" name="scope" value="all"${prefs.list ? '' : ' checked'}> All lists</label></p>
<p><button type="submit">Unsubscribe</button></p></form>`,
      );
    } catch (e) {
      return tokenError(reply, e, false);
    }
  });

  app.post<{ Params: { token: string }; Body: Record<string, unknown> | undefined }>(
    '/u/:token',
    async (req, reply) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const scope = body.scope === 'all' ? 'all' : 'list';
      const oneClick = body['List-Unsubscribe'] === 'One-Click';
      try {
        unsubscribeByToken(deps, req.params.token, scope, {
          ip: req.ip,
          userAgent: req.headers['user-agent'] ?? null,
          source: 'link',
        });
      } catch (e) {
        return tokenError(reply, e, oneClick || wantsJson(req));
      }
      if (oneClick || wantsJson(req)) return { status: 'unsubscribed' };
      reply.type('text/html; charset=utf-8');
      return page('Unsubscribed', '<p>You will get no more mail from this list.</p>');
    },
  );
}
