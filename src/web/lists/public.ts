import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isMailroomError } from '../../lib/index.ts';
import {
  confirmSubscription,
  consentWordingFor,
  getListBySlug,
  LIST_LOCALES,
  type ListLocale,
  type ListsDeps,
  listLocale,
  localeFromAcceptLanguage,
  pageLocale,
  preferences,
  subscribe,
  unsubscribeByToken,
} from '../../lists/index.ts';
import { esc, LANGUAGE_NAMES, PUBLIC_TEXT, page } from './html.ts';
import { listsTrackingRoutes } from './tracking.ts';

export interface ListsPublicOptions {
  lists: ListsDeps;
  /** Subscribe requests per address per window (default 10 per minute). */
  subscribeLimit?: { max: number; timeWindowMs: number };
}

/** A field real people never see or fill; bots that fill every input are answered but ignored. */
export const HONEYPOT_FIELD = 'website';

/** The hidden field carrying the subscribe form's language: picks the consent wording recorded. */
export const LOCALE_FIELD = 'locale';

function wantsJson(req: FastifyRequest): boolean {
  return (
    (req.headers['content-type'] ?? '').includes('application/json') ||
    (req.headers.accept ?? '').includes('application/json')
  );
}

function tokenError(reply: FastifyReply, e: unknown, json: boolean, lang: ListLocale = 'en') {
  if (!isMailroomError(e)) throw e;
  const status = e.code === 'NOT_FOUND' ? 404 : e.code === 'VALIDATION' ? 400 : 400;
  reply.code(status);
  if (json) return { error: e.code, message: e.message };
  const t = PUBLIC_TEXT[lang];
  const title = e.code === 'NOT_FOUND' ? t.notFound : e.code === 'VALIDATION' ? t.checkInput : t.linkNotValid;
  // English pages show the error's own (more specific) message; the others the translation of its kind.
  const known = t.errors[e.code as keyof typeof t.errors];
  const message = lang === 'en' || !known ? e.message : known;
  return html(reply, lang, page(title, `<p>${esc(message)}</p>`, lang));
}

/** An HTML answer in `lang`; the language may come from Accept-Language, so caches must key on it. */
function html(reply: FastifyReply, lang: ListLocale, body: string): string {
  reply.type('text/html; charset=utf-8');
  reply.header('Content-Language', lang);
  reply.header('Vary', 'Accept-Language');
  return body;
}

const acceptLanguage = (req: FastifyRequest) => req.headers['accept-language'];

/**
 * Public list pages: subscribe form, confirm link, preference page, RFC 8058 one-click
 * unsubscribe, and the open/click tracking endpoints. No login or CSRF token on the unsubscribe POST: the signed token is the authority,
 * and mailbox providers POST to it without cookies.
 *
 * Pages come in English, Simplified and Traditional Chinese (lists pageLocale): the language chosen
 * on the page (`?lang=`, the form's hidden locale), else the subscriber's stored language on pages
 * reached through their own signed link, else Accept-Language, else the list's default language.
 * The subscribe answer never uses a stored language: it would tell whether the address is known.
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

  app.get<{ Params: { slug: string }; Querystring: { lang?: string } }>(
    '/lists/:slug',
    async (req, reply) => {
      const list = getListBySlug(deps.db, req.params.slug);
      const lang = pageLocale({
        explicit: typeof req.query.lang === 'string' ? req.query.lang : null,
        acceptLanguage: acceptLanguage(req),
        listDefault: list?.public ? list.default_locale : null,
      });
      const t = PUBLIC_TEXT[lang];
      if (!list?.public) {
        reply.code(404);
        return html(reply, lang, page(t.notFound, `<p>${esc(t.noSuchList)}</p>`, lang));
      }
      // The consent sentence in the page's language when the list has it, else in the list's default
      // language (marked as such); the same text is recorded as this person's consent.
      const shown = consentWordingFor(list, lang);
      const wordingLang = shown.locale === lang ? '' : ` lang="${esc(shown.locale)}"`;
      const others = LIST_LOCALES.filter((l) => l !== lang)
        .map(
          (l) =>
            `<a href="/lists/${esc(list.slug)}?lang=${esc(l)}" hreflang="${esc(l)}" lang="${esc(l)}">${esc(LANGUAGE_NAMES[l])}</a>`,
        )
        .join(' · ');
      return html(
        reply,
        lang,
        page(
          list.name,
          `<nav>${others}</nav>
<p>${esc(list.description)}</p>
<form method="post" action="/lists/${esc(list.slug)}/subscribe">
<input type="hidden" name="${LOCALE_FIELD}" value="${esc(lang)}">
<p><label>${esc(t.email)} <input type="email" name="email" required></label></p>
<p><label>${esc(t.name)} <input type="text" name="name"></label></p>
<p class="hp" aria-hidden="true"><label>${esc(t.leaveEmpty)} <input type="text" name="${HONEYPOT_FIELD}" tabindex="-1" autocomplete="off"></label></p>
<p${wordingLang}>${esc(shown.wording)}</p>
<p><button type="submit">${esc(t.subscribe)}</button></p></form>`,
          lang,
        ),
      );
    },
  );

  app.post<{ Params: { slug: string }; Body: Record<string, unknown> | undefined }>(
    '/lists/:slug/subscribe',
    { config: { rateLimit: { max: limit.max, timeWindow: limit.timeWindowMs } } },
    async (req, reply) => {
      const json = wantsJson(req);
      const body = (req.body ?? {}) as Record<string, unknown>;
      const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : '');
      // The form's own language first: that is the page the consent wording was read on.
      const list = getListBySlug(deps.db, req.params.slug);
      const lang = pageLocale({
        explicit: str(LOCALE_FIELD),
        acceptLanguage: acceptLanguage(req),
        listDefault: list?.default_locale,
      });
      const t = PUBLIC_TEXT[lang];
      const answer = () => {
        reply.code(202);
        if (json) return { status: 'accepted', message: t.neutral };
        return html(reply, lang, page(t.almostDone, `<p>${esc(t.neutral)}</p>`, lang));
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
        const firstTag = (req.headers['accept-language'] ?? '').split(',')[0]?.split(';')[0]?.trim();
        await subscribe(deps, {
          slug: req.params.slug,
          email: str('email'),
          name: str('name') || null,
          // The person's language for later mail and pages: what they chose or their browser prefers.
          locale:
            listLocale(str(LOCALE_FIELD)) ??
            localeFromAcceptLanguage(acceptLanguage(req)) ??
            (str(LOCALE_FIELD) || firstTag || null),
          wordingLocale: lang,
          attributes,
          source: json ? 'api' : 'form',
          ip: req.ip,
          userAgent: req.headers['user-agent'] ?? null,
        });
      } catch (e) {
        return tokenError(reply, e, json, lang);
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
      const lang = pageLocale({
        stored: res.locale,
        acceptLanguage: acceptLanguage(req),
        listDefault: res.list.default_locale,
      });
      const t = PUBLIC_TEXT[lang];
      return html(reply, lang, page(t.confirmedTitle, `<p>${esc(t.subscribedTo(res.list.name))}</p>`, lang));
    } catch (e) {
      return tokenError(reply, e, false, pageLocale({ acceptLanguage: acceptLanguage(req) }));
    }
  });

  // GET never unsubscribes: link scanners and previews follow GETs (RFC 8058 section 1).
  app.get<{ Params: { token: string } }>('/u/:token', async (req, reply) => {
    try {
      const prefs = preferences(deps, req.params.token);
      const lang = pageLocale({
        stored: prefs.locale,
        acceptLanguage: acceptLanguage(req),
        listDefault: prefs.list?.defaultLocale,
      });
      const t = PUBLIC_TEXT[lang];
      const action = `/u/${esc(req.params.token)}`;
      const thisList = prefs.list
        ? `<p><label><input type="radio" name="scope" value="list" checked> ${esc(t.onlyList(prefs.list.name))}</label></p>`
        : '';
      reply.header('Cache-Control', 'no-store');
      return html(
        reply,
        lang,
        page(
          t.unsubscribeTitle,
          `<p>${esc(t.mailTo(prefs.email))}</p>
<form method="post" action="${action}">
${thisList}<p><label><input type="radio" name="scope" value="all"${prefs.list ? '' : ' checked'}> ${esc(t.allLists)}</label></p>
<p><button type="submit">${esc(t.unsubscribeButton)}</button></p></form>`,
          lang,
        ),
      );
    } catch (e) {
      return tokenError(reply, e, false, pageLocale({ acceptLanguage: acceptLanguage(req) }));
    }
  });

  app.post<{ Params: { token: string }; Body: Record<string, unknown> | undefined }>(
    '/u/:token',
    async (req, reply) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const scope = body.scope === 'all' ? 'all' : 'list';
      const oneClick = body['List-Unsubscribe'] === 'One-Click';
      let res: ReturnType<typeof unsubscribeByToken>;
      try {
        res = unsubscribeByToken(deps, req.params.token, scope, {
          ip: req.ip,
          userAgent: req.headers['user-agent'] ?? null,
          source: 'link',
        });
      } catch (e) {
        return tokenError(
          reply,
          e,
          oneClick || wantsJson(req),
          pageLocale({ acceptLanguage: acceptLanguage(req) }),
        );
      }
      if (oneClick || wantsJson(req)) return { status: 'unsubscribed' };
      const lang = pageLocale({
        stored: res.locale,
        acceptLanguage: acceptLanguage(req),
        listDefault: res.listDefaultLocale,
      });
      const t = PUBLIC_TEXT[lang];
      return html(
        reply,
        lang,
        page(
          t.unsubscribedTitle,
          `<p>${esc(res.scope === 'all' ? t.unsubscribedAll : t.unsubscribedList)}</p>`,
          lang,
        ),
      );
    },
  );
}
