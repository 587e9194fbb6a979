import type { FastifyInstance, FastifyReply } from 'fastify';
import { isMailroomError } from '../../lib/index.ts';
import {
  allLists,
  CAMPAIGN_STATE_ACTIONS,
  type CampaignRunner,
  changeCampaignState,
  createCampaign,
  createList,
  eraseAddress,
  exportAddress,
  exportListCsv,
  getCampaign,
  importCsv,
  type ListsDeps,
  listCampaigns,
  listNotices,
  progress,
  scheduleCampaign,
  settingsOf,
} from '../../lists/index.ts';
import { addressView } from './address-view.ts';

export interface ListsMarketerOptions {
  lists: ListsDeps;
  /** For test sends; without it the test-send route answers 503. */
  runner?: CampaignRunner;
}

const STATUS: Record<string, number> = { NOT_FOUND: 404, VALIDATION: 400, USAGE: 400, TOKEN_INVALID: 400 };

function fail(reply: FastifyReply, e: unknown) {
  if (!isMailroomError(e)) throw e;
  reply.code(STATUS[e.code] ?? 400);
  return { error: e.code, message: e.message };
}

type Body = Record<string, unknown>;
const str = (b: Body, k: string): string | undefined =>
  typeof b[k] === 'string' ? (b[k] as string) : undefined;

/**
 * JSON API for marketers: lists, CSV import/export, one address's data, erase, campaigns. The lead
 * registers it under an authenticated prefix (role marketer or admin); nothing here checks login.
 */
export async function listsMarketerRoutes(app: FastifyInstance, opts: ListsMarketerOptions): Promise<void> {
  const deps = opts.lists;
  const { db } = deps;
  const now = () => deps.clock.now();
  if (!app.hasContentTypeParser('text/csv')) {
    app.addContentTypeParser(
      'text/csv',
      { parseAs: 'string', bodyLimit: 50 * 1024 * 1024 },
      (_r, body, done) => done(null, body),
    );
  }

  app.get('/lists', async () => ({
    lists: allLists(db).map((l) => ({
      ...l,
      counts: Object.fromEntries(
        (
          db
            .prepare('SELECT status, count(*) AS n FROM list_memberships WHERE list_id = ? GROUP BY status')
            .all(l.id) as Array<{ status: string; n: number }>
        ).map((r) => [r.status, r.n]),
      ),
    })),
  }));

  app.post<{ Body: Body }>('/lists', async (req, reply) => {
    const b = req.body ?? {};
    try {
      reply.code(201);
      return createList(
        db,
        {
          slug: str(b, 'slug') ?? '',
          name: str(b, 'name') ?? '',
          description: str(b, 'description') ?? '',
          consentWording: str(b, 'consentWording') ?? '',
          optin: b.optin === 'single' ? 'single' : 'double',
          public: b.public !== false,
          welcome: b.welcome === true,
        },
        now(),
      );
    } catch (e) {
      return fail(reply, e);
    }
  });

  app.get<{ Params: { slug: string } }>('/lists/:slug/export.csv', async (req, reply) => {
    try {
      const csv = exportListCsv(deps, req.params.slug);
      reply.type('text/csv; charset=utf-8');
      reply.header('Content-Disposition', `attachment; filename="${req.params.slug}.csv"`);
      return csv;
    } catch (e) {
      return fail(reply, e);
    }
  });

  app.post<{ Params: { slug: string }; Querystring: { consent?: string; wording?: string }; Body: string }>(
    '/lists/:slug/import',
    async (req, reply) => {
      try {
        return await importCsv(deps, {
          slug: req.params.slug,
          csv: typeof req.body === 'string' ? req.body : '',
          source: 'staff',
          consent: req.query.consent === 'confirmed-elsewhere' ? 'confirmed-elsewhere' : 'pending',
          ...(req.query.wording ? { wording: req.query.wording } : {}),
        });
      } catch (e) {
        return fail(reply, e);
      }
    },
  );

  app.get<{ Params: { email: string } }>('/subscribers/:email', async (req, reply) => {
    try {
      return exportAddress(addressView(deps, req.staff?.user.role), req.params.email);
    } catch (e) {
      return fail(reply, e);
    }
  });

  app.post<{ Params: { email: string } }>('/subscribers/:email/erase', async (req, reply) => {
    try {
      eraseAddress(deps, req.params.email);
      return { status: 'erased' };
    } catch (e) {
      return fail(reply, e);
    }
  });

  app.get('/campaigns', async () => ({ campaigns: listCampaigns(db) }));
  app.get('/notices', async () => ({ notices: listNotices(db) }));

  app.post<{ Body: Body }>('/campaigns', async (req, reply) => {
    const b = req.body ?? {};
    try {
      reply.code(201);
      return createCampaign(
        db,
        {
          name: str(b, 'name') ?? '',
          listIds: Array.isArray(b.listIds) ? (b.listIds as unknown[]).map(Number) : [],
          segmentId: str(b, 'segmentId') ?? null,
          template: str(b, 'template') ?? '',
          subject: str(b, 'subject') ?? '',
          // Unless the marketer sets them, a campaign pauses at the thresholds in mailroom.yaml.
          bounceThreshold:
            typeof b.bounceThreshold === 'number' ? b.bounceThreshold : settingsOf(deps).bounceThreshold,
          complaintThreshold:
            typeof b.complaintThreshold === 'number'
              ? b.complaintThreshold
              : settingsOf(deps).complaintThreshold,
          tracking: b.tracking === true,
        },
        now(),
      );
    } catch (e) {
      return fail(reply, e);
    }
  });

  app.get<{ Params: { id: string } }>('/campaigns/:id', async (req, reply) => {
    try {
      const id = Number(req.params.id);
      return { campaign: getCampaign(db, id), progress: progress(db, id), notices: listNotices(db, id) };
    } catch (e) {
      return fail(reply, e);
    }
  });

  app.post<{ Params: { id: string; action: string }; Body: Body }>(
    '/campaigns/:id/:action',
    async (req, reply) => {
      const id = Number(req.params.id);
      const b = req.body ?? {};
      try {
        const state = CAMPAIGN_STATE_ACTIONS.find((a) => a === req.params.action);
        if (state) changeCampaignState(db, id, state, now());
        else
          switch (req.params.action) {
            case 'schedule': {
              const at = Date.parse(str(b, 'at') ?? '');
              if (Number.isNaN(at)) {
                reply.code(400);
                return { error: 'VALIDATION', message: 'schedule needs "at" as an ISO date-time' };
              }
              scheduleCampaign(db, id, at, now());
              break;
            }
            case 'test': {
              if (!opts.runner) {
                reply.code(503);
                return { error: 'UNAVAILABLE', message: 'test sends need the send workers' };
              }
              const to = Array.isArray(b.to) ? (b.to as unknown[]).map(String).slice(0, 20) : [];
              return { sent: await opts.runner.testSend(id, to) };
            }
            default:
              reply.code(404);
              return { error: 'NOT_FOUND', message: `unknown action ${req.params.action}` };
          }
        return { progress: progress(db, id) };
      } catch (e) {
        return fail(reply, e);
      }
    },
  );
}
