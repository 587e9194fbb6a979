import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { countSegment, listSegments } from '../../customers/index.ts';
import { isMailroomError } from '../../lib/index.ts';
import {
  allLists,
  CAMPAIGN_STATE_ACTIONS,
  type CampaignProgress,
  type CampaignRow,
  type CampaignRunner,
  changeCampaignState,
  createCampaign,
  createList,
  eraseAddress,
  exportAddress,
  exportListCsv,
  type ImportResult,
  importCsv,
  type ListsDeps,
  listCampaigns,
  listNotices,
  progress,
  scheduleCampaign,
  settingsOf,
} from '../../lists/index.ts';
import { csrfFrom } from '../auth/guard.ts';
import { safeEqual } from '../auth/sessions.ts';
import { Locales, type Role } from '../auth/users.ts';
import { pageContext } from '../context.ts';
import { translate } from '../i18n/messages.ts';
import { addressView } from '../lists/address-view.ts';
import { createRenderer } from '../render.ts';
import { addMultipartParser, asPercent, field, fields, parseUtcLocal, percentField } from './form.ts';
import {
  PREVIEW_FRAME_CSP,
  type PreviewInput,
  previewDocument,
  renderPreview,
  type SampleFn,
} from './preview.ts';

export interface MarketingPagesOptions {
  lists: ListsDeps;
  /** For test sends; without it the test-send form says the feature is not wired. */
  runner?: CampaignRunner;
  /** Template names a campaign may use (see newsletterTemplates); a free text field when absent. */
  templates?: () => string[];
  /** A template's sample.json, for the composer's preview; placeholders (or a subscriber) without it. */
  sample?: SampleFn;
}

const ROLES: Role[] = ['marketer', 'admin'];
const ACTIONS = ['start', 'schedule', 'pause', 'resume', 'cancel', 'test'] as const;
type Action = (typeof ACTIONS)[number];

/** Success notes a redirect may ask for (?ok=...): only these keys, never free text from the URL. */
const FLASH: Record<string, string> = {
  list_created: 'mk_list_created',
  campaign_created: 'mk_campaign_created',
  start: 'mk_done_start',
  schedule: 'mk_done_schedule',
  pause: 'mk_done_pause',
  resume: 'mk_done_resume',
  cancel: 'mk_done_cancel',
  erased: 'mk_erased',
};

type Q = Record<string, string | undefined>;
type ProgressView = CampaignProgress & { opens?: number; clicks?: number };

const pct = (rate: number) => `${(rate * 100).toFixed(2)}%`;

/** Statuses whose counts still move by the second; the page polls faster while one is shown. */
const LIVE_STATUSES = new Set(['scheduled', 'running', 'paused']);

/** A user-facing problem: shown on the page with status 400 (never a stack trace). */
class FormProblem extends Error {}

/**
 * HTML pages for marketers: lists (create, import, export), campaigns (compose, test, start,
 * schedule, pause, resume, cancel) and one address's data with erasure. Mounted as a staff plugin
 * (session, CSRF and role are checked by the server); it checks role and CSRF again itself so it
 * stays safe wherever it is registered. Links follow the prefix it is mounted at.
 */
export function marketingPages(opts: MarketingPagesOptions): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    const deps = opts.lists;
    const { db } = deps;
    const base = app.prefix.replace(/\/+$/, '');
    const render = createRenderer();
    const now = () => deps.clock.now();
    addMultipartParser(app, 20 * 1024 * 1024);

    const send = (
      req: FastifyRequest,
      reply: FastifyReply,
      view: string,
      titleKey: string,
      data: Record<string, unknown>,
      status = 200,
    ) => {
      const ctx = pageContext(req, '');
      const page = { ...ctx, title: translate(ctx.locale, titleKey), now: now() };
      return reply
        .code(status)
        .type('text/html; charset=utf-8')
        .send(render(view, page, { base, ...data }));
    };
    const message = (req: FastifyRequest, reply: FastifyReply, status: number, key: string) =>
      send(req, reply, 'message', key, { key }, status);
    const flash = (req: FastifyRequest) => {
      const key = FLASH[(req.query as Q).ok ?? ''];
      return key ? translate(pageContext(req, '').locale, key) : null;
    };
    const problem = (e: unknown): string => {
      if (e instanceof FormProblem || isMailroomError(e)) return e.message;
      throw e;
    };
    const tr = (req: FastifyRequest, key: string, vars?: Record<string, unknown>) =>
      translate(pageContext(req, '').locale, key, vars);

    app.addHook('preHandler', async (req, reply) => {
      const s = req.staff;
      if (!s) return reply.code(401).type('text/plain; charset=utf-8').send('log in first');
      if (!ROLES.includes(s.user.role)) return message(req, reply, 403, 'forbidden');
      if (req.method !== 'GET' && req.method !== 'HEAD' && !safeEqual(csrfFrom(req), s.csrfToken))
        return message(req, reply, 403, 'csrf_failed');
    });

    // ---- Lists -------------------------------------------------------------------------------

    const listsView = (req: FastifyRequest, extra: Record<string, unknown> = {}) => {
      const counts = new Map<number, Record<string, number>>();
      const rows = db
        .prepare('SELECT list_id, status, count(*) AS n FROM list_memberships GROUP BY list_id, status')
        .all() as Array<{ list_id: number; status: string; n: number }>;
      for (const r of rows) counts.set(r.list_id, { ...counts.get(r.list_id), [r.status]: r.n });
      const publicBase = deps.publicUrl.replace(/\/+$/, '');
      return {
        flash: flash(req),
        lists: allLists(db).map((l) => {
          const c = counts.get(l.id) ?? {};
          return {
            ...l,
            isPublic: l.public === 1,
            optinKey: l.optin === 'single' ? 'mk_optin_single' : 'mk_optin_double',
            pending: c.pending ?? 0,
            confirmed: c.confirmed ?? 0,
            unsubscribed: c.unsubscribed ?? 0,
            signupUrl: `${publicBase}/lists/${encodeURIComponent(l.slug)}`,
            exportUrl: `${base}/lists/${encodeURIComponent(l.slug)}/export.csv`,
          };
        }),
        values: { optin: 'double', public: true },
        ...extra,
      };
    };

    app.get('/', async (req, reply) => send(req, reply, 'marketing-lists', 'mk_lists', listsView(req)));

    app.post('/lists', async (req, reply) => {
      const b = req.body;
      const values = {
        slug: field(b, 'slug').trim(),
        name: field(b, 'name').trim(),
        description: field(b, 'description'),
        consentWording: field(b, 'consentWording').trim(),
        optin: field(b, 'optin') === 'single' ? 'single' : 'double',
        public: field(b, 'public') === '1',
        welcome: field(b, 'welcome') === '1',
      } as const;
      try {
        createList(
          db,
          {
            slug: values.slug,
            name: values.name || values.slug,
            description: values.description,
            consentWording: values.consentWording,
            optin: values.optin,
            public: values.public,
            welcome: values.welcome,
          },
          now(),
        );
        return reply.redirect(`${base}?ok=list_created`, 303);
      } catch (e) {
        const error = problem(e);
        return send(req, reply, 'marketing-lists', 'mk_lists', listsView(req, { error, values }), 400);
      }
    });

    app.post('/import', async (req, reply) => {
      const b = req.body;
      const slug = field(b, 'list');
      const consent = field(b, 'consent') === 'confirmed-elsewhere' ? 'confirmed-elsewhere' : 'pending';
      const wording = field(b, 'wording').trim();
      const csv = field(b, 'csvFile').trim() ? field(b, 'csvFile') : field(b, 'csvText');
      const importValues = { list: slug, consent, wording };
      try {
        if (!csv.trim()) throw new FormProblem(tr(req, 'mk_csv_missing'));
        const result: ImportResult = await importCsv(deps, {
          slug,
          csv,
          source: 'staff',
          consent,
          ...(wording ? { wording } : {}),
        });
        return send(
          req,
          reply,
          'marketing-lists',
          'mk_lists',
          listsView(req, {
            importResult: {
              summary: tr(req, 'mk_import_result', {
                list: slug,
                confirmed: result.confirmed,
                pending: result.pending,
                unchanged: result.unchanged,
                skipped: result.skipped.length,
              }),
              skipped: result.skipped.slice(0, 200),
            },
            importValues,
          }),
        );
      } catch (e) {
        const error = problem(e);
        return send(
          req,
          reply,
          'marketing-lists',
          'mk_lists',
          listsView(req, { importError: error, importValues }),
          400,
        );
      }
    });

    app.get<{ Params: { slug: string } }>('/lists/:slug/export.csv', async (req, reply) => {
      try {
        const csv = exportListCsv(deps, req.params.slug);
        return reply
          .type('text/csv; charset=utf-8')
          .header('Content-Disposition', `attachment; filename="${req.params.slug}.csv"`)
          .send(csv);
      } catch (e) {
        if (isMailroomError(e, 'NOT_FOUND')) return message(req, reply, 404, 'not_found');
        throw e;
      }
    });

    // ---- Campaigns ---------------------------------------------------------------------------

    const campaignView = (c: CampaignRow, names: Map<number, string>) => {
      const p = progress(db, c.id) as ProgressView;
      const ids = JSON.parse(c.list_ids) as number[];
      const st = c.status;
      return {
        ...c,
        statusKey: `mk_status_${st}`,
        lists: ids.map((id) => names.get(id) ?? `#${id}`),
        tracking: c.tracking === 1,
        autoPaused: st === 'paused' && (c.paused_reason ?? '').startsWith('auto-paused'),
        p,
        hasOpens: typeof p.opens === 'number',
        hasClicks: typeof p.clicks === 'number',
        bounceRate: pct(p.bounceRate),
        complaintRate: pct(p.complaintRate),
        canStart: st === 'draft' || st === 'scheduled',
        canPause: st === 'running' || st === 'scheduled',
        canResume: st === 'paused',
        canCancel: st === 'draft' || st === 'scheduled' || st === 'running' || st === 'paused',
        canTest: st !== 'cancelled' && st !== 'done',
        live: LIVE_STATUSES.has(st),
      };
    };

    const previewQuery = (template: string) => new URLSearchParams({ template, source: 'sample' }).toString();

    // Each segment with its size right now, so a marketer sees who a campaign reaches before sending.
    const segmentsOf = (): Array<{ id: string; name: string; count: number }> => {
      try {
        return listSegments(db).map((s) => ({ id: s.id, name: s.name, count: countSegment(db, s.id) }));
      } catch {
        return [];
      }
    };

    const campaignsView = (req: FastifyRequest, extra: Record<string, unknown> = {}) => {
      const lists = allLists(db);
      const names = new Map<number, string>(lists.map((l) => [l.id, l.name] as const));
      const campaigns = listCampaigns(db).map((c) => campaignView(c, names));
      const paused = new Set(campaigns.filter((c) => c.status === 'paused').map((c) => c.id));
      const notices = listNotices(db).slice(0, 50);
      const settings = settingsOf(deps);
      const q = req.query as Q;
      const templates = opts.templates?.() ?? [];
      const chosen = (extra.values as { template?: string } | undefined)?.template;
      const previewTemplate = chosen || templates[0] || '';
      const testSent =
        q.ok === 'test' && /^\d+$/.test(q.n ?? '') ? tr(req, 'mk_test_sent', { n: q.n }) : null;
      return {
        flash: flash(req) ?? testSent,
        campaigns,
        // Auto-pause notices of campaigns still paused: the marketer must act on these.
        alerts: notices.filter((n) => n.kind === 'auto_paused' && paused.has(n.campaign_id)),
        notices,
        lists: lists.map((l) => ({ id: l.id, name: l.name, slug: l.slug })),
        segments: segmentsOf(),
        templates,
        previewFrame: previewTemplate
          ? `${base}/campaigns/preview/frame?${previewQuery(previewTemplate)}`
          : null,
        previewPage: `${base}/campaigns/preview${previewTemplate ? `?${previewQuery(previewTemplate)}` : ''}`,
        testWired: Boolean(opts.runner),
        values: {
          bounceThreshold: asPercent(settings.bounceThreshold),
          complaintThreshold: asPercent(settings.complaintThreshold),
        },
        ...extra,
      };
    };

    app.get('/campaigns', async (req, reply) =>
      send(req, reply, 'marketing-campaigns', 'mk_campaigns', campaignsView(req)),
    );

    // Live progress for the campaigns page (static/campaigns.js polls it; the page works without).
    app.get('/campaigns/progress.json', async (req, reply) => {
      const want = new Set(
        ((req.query as Q).ids ?? '')
          .split(',')
          .filter((x) => /^\d+$/.test(x))
          .slice(0, 200)
          .map(Number),
      );
      const locale = pageContext(req, '').locale;
      const campaigns = listCampaigns(db)
        .filter((c) => want.size === 0 || want.has(c.id))
        .map((c) => {
          const p = progress(db, c.id) as ProgressView;
          return {
            id: c.id,
            statusText: translate(locale, `mk_status_${c.status}`),
            live: LIVE_STATUSES.has(c.status),
            ...p,
            bounceRate: pct(p.bounceRate),
            complaintRate: pct(p.complaintRate),
          };
        });
      return reply.header('cache-control', 'no-store').send({ at: now(), campaigns });
    });

    // ---- Template preview --------------------------------------------------------------------

    const previewInput = (req: FastifyRequest): PreviewInput => {
      const q = req.query as Q;
      const locale = (Locales as readonly string[]).includes(q.locale ?? '')
        ? (q.locale as string)
        : pageContext(req, '').locale;
      return {
        template: (q.template ?? '').trim() || (opts.templates?.()[0] ?? ''),
        listId: /^\d+$/.test(q.list ?? '') ? Number(q.list) : null,
        source: q.source === 'subscriber' ? 'subscriber' : 'sample',
        locale,
        subject: (q.subject ?? '')
          .replace(/[\r\n]+/g, ' ')
          .trim()
          .slice(0, 300),
      };
    };

    /** A template name the composer could have offered; anything else is refused before rendering. */
    const checkTemplate = (req: FastifyRequest, template: string) => {
      const allowed = opts.templates?.() ?? [];
      if (!template || (allowed.length > 0 && !allowed.includes(template)))
        throw new FormProblem(tr(req, 'mk_bad_template'));
    };

    const preview = async (req: FastifyRequest, input: PreviewInput) => {
      checkTemplate(req, input.template);
      try {
        return await renderPreview(deps, opts.sample, input);
      } catch (e) {
        if (!deps.render) throw new FormProblem(tr(req, 'mk_preview_unavailable'));
        throw e;
      }
    };

    app.get('/campaigns/preview', async (req, reply) => {
      const input = previewInput(req);
      const lists = allLists(db).map((l) => ({ id: l.id, name: l.name, selected: l.id === input.listId }));
      const data: Record<string, unknown> = {
        templates: opts.templates?.() ?? [],
        lists,
        locales: Locales.map((l) => ({ id: l, selected: l === input.locale })),
        values: input,
        frameUrl: `${base}/campaigns/preview/frame?${new URLSearchParams({
          template: input.template,
          source: input.source,
          locale: input.locale,
          subject: input.subject,
          ...(input.listId === null ? {} : { list: String(input.listId) }),
        }).toString()}`,
      };
      try {
        data.result = await preview(req, input);
      } catch (e) {
        data.error = problem(e);
        return send(req, reply, 'marketing-preview', 'mk_preview_title', data, 400);
      }
      return send(req, reply, 'marketing-preview', 'mk_preview_title', data);
    });

    // The rendered mail alone, for the sandboxed iframe: its own strict policy (no script at all),
    // framable only by our pages.
    app.get('/campaigns/preview/frame', async (req, reply) => {
      reply.header('content-security-policy', PREVIEW_FRAME_CSP);
      reply.header('x-frame-options', 'SAMEORIGIN');
      reply.type('text/html; charset=utf-8');
      try {
        const r = await preview(req, previewInput(req));
        return reply.send(previewDocument(r.html));
      } catch (e) {
        const text = problem(e).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
        return reply.code(400).send(previewDocument(`<p>${text}</p>`));
      }
    });

    app.post('/campaigns', async (req, reply) => {
      const b = req.body;
      const listIds = fields(b, 'listIds')
        .map(Number)
        .filter((n) => Number.isInteger(n) && n > 0);
      const values = {
        name: field(b, 'name').trim(),
        subject: field(b, 'subject').trim(),
        template: field(b, 'template').trim(),
        segmentId: field(b, 'segmentId').trim(),
        listIds,
        bounceThreshold: field(b, 'bounceThreshold'),
        complaintThreshold: field(b, 'complaintThreshold'),
        tracking: field(b, 'tracking') === '1',
      };
      try {
        const bounce = percentField(values.bounceThreshold);
        const complaint = percentField(values.complaintThreshold);
        if (bounce === null || complaint === null) throw new FormProblem(tr(req, 'mk_bad_threshold'));
        const allowed = opts.templates?.();
        if (!values.template || (allowed && allowed.length > 0 && !allowed.includes(values.template)))
          throw new FormProblem(tr(req, 'mk_bad_template'));
        const c = createCampaign(
          db,
          {
            name: values.name || values.subject,
            subject: values.subject,
            template: values.template,
            listIds,
            segmentId: values.segmentId || null,
            bounceThreshold: bounce,
            complaintThreshold: complaint,
            tracking: values.tracking,
          },
          now(),
        );
        return reply.redirect(`${base}/campaigns?ok=campaign_created#c${c.id}`, 303);
      } catch (e) {
        const error = problem(e);
        return send(
          req,
          reply,
          'marketing-campaigns',
          'mk_campaigns',
          campaignsView(req, { error, values }),
          400,
        );
      }
    });

    app.post<{ Params: { id: string; action: string } }>('/campaigns/:id/:action', async (req, reply) => {
      const id = Number(req.params.id);
      const action = req.params.action as Action;
      if (!Number.isInteger(id) || !ACTIONS.includes(action)) return message(req, reply, 404, 'not_found');
      const b = req.body;
      try {
        const state = CAMPAIGN_STATE_ACTIONS.find((a) => a === action);
        if (state) changeCampaignState(db, id, state, now());
        switch (action) {
          case 'schedule': {
            const at = parseUtcLocal(field(b, 'at'));
            if (at === null) throw new FormProblem(tr(req, 'mk_bad_time'));
            scheduleCampaign(db, id, at, now());
            break;
          }
          case 'test': {
            if (!opts.runner) throw new FormProblem(tr(req, 'mk_test_unavailable'));
            const to = field(b, 'to')
              .split(/[\s,;]+/)
              .filter(Boolean)
              .slice(0, 20);
            if (to.length === 0) throw new FormProblem(tr(req, 'mk_test_none'));
            const n = await opts.runner.testSend(id, to);
            return reply.redirect(`${base}/campaigns?ok=test&n=${n}#c${id}`, 303);
          }
        }
        return reply.redirect(`${base}/campaigns?ok=${action}#c${id}`, 303);
      } catch (e) {
        if (isMailroomError(e, 'NOT_FOUND')) return message(req, reply, 404, 'not_found');
        const error = problem(e);
        return send(req, reply, 'marketing-campaigns', 'mk_campaigns', campaignsView(req, { error }), 400);
      }
    });

    // ---- One address ---------------------------------------------------------------------------

    app.get('/subscribers', async (req, reply) => {
      const email = ((req.query as Q).email ?? '').trim();
      const data: Record<string, unknown> = { email, flash: flash(req) };
      if (email) {
        try {
          const found = exportAddress(addressView(deps, req.staff?.user.role), email) as {
            email: string;
            erased: boolean;
            subscriber: Record<string, unknown> | null;
            memberships: Array<Record<string, unknown> & { status: string }>;
            consents: unknown[];
            campaignSends: unknown[];
            bounces: unknown[];
            // Present when the app wires full data rights (customer, orders, mail, outbox).
            customer?: unknown;
            orders?: unknown[];
            conversations?: unknown[];
            outbox?: unknown[];
            suppressions?: unknown[];
          };
          data.found = {
            ...found,
            memberships: found.memberships.map((m) => ({ ...m, statusKey: `mk_status_${m.status}` })),
            held:
              found.subscriber !== null ||
              found.memberships.length > 0 ||
              found.consents.length > 0 ||
              found.campaignSends.length > 0 ||
              found.bounces.length > 0 ||
              (found.customer !== undefined && found.customer !== null) ||
              [found.orders, found.conversations, found.outbox, found.suppressions].some(
                (l) => (l?.length ?? 0) > 0,
              ),
            raw: JSON.stringify(found, null, 2),
          };
        } catch (e) {
          data.error = problem(e);
          return send(req, reply, 'marketing-subscriber', 'mk_subscribers', data, 400);
        }
      }
      return send(req, reply, 'marketing-subscriber', 'mk_subscribers', data);
    });

    app.post('/subscribers/erase', async (req, reply) => {
      const email = field(req.body, 'email').trim();
      if (field(req.body, 'confirm') !== 'yes')
        return send(req, reply, 'marketing-erase', 'mk_erase_title', {
          email,
          backUrl: `${base}/subscribers?email=${encodeURIComponent(email)}`,
        });
      try {
        eraseAddress(deps, email);
      } catch (e) {
        const error = problem(e);
        return send(req, reply, 'marketing-subscriber', 'mk_subscribers', { email, error }, 400);
      }
      return reply.redirect(`${base}/subscribers?email=${encodeURIComponent(email)}&ok=erased`, 303);
    });
  };
}
