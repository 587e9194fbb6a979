import type { FastifyInstance } from 'fastify';
import { Departments, Urgencies } from '../../config/index.ts';
import { visibleDepartments } from '../auth/users.ts';
import { sendPage, staffOf, type WebContext } from '../context.ts';
import { translate } from '../i18n/messages.ts';
import { type InboxFilter, queryInbox, Statuses, viewCounts } from './query.ts';

function str(v: unknown, max = 200): string {
  return typeof v === 'string' ? v.slice(0, max) : '';
}

export function parseFilter(q: Record<string, unknown>): InboxFilter {
  const status = str(q.status);
  const urgency = str(q.urgency);
  const page = Number.parseInt(str(q.page, 6), 10);
  return {
    view: str(q.view, 40) || 'all',
    status: (Statuses as readonly string[]).includes(status) ? status : 'active',
    urgency: (Urgencies as readonly string[]).includes(urgency) ? urgency : '',
    assignee: str(q.assignee, 64),
    tag: str(q.tag, 64),
    q: str(q.q, 200),
    page: Number.isFinite(page) && page > 0 ? Math.min(page, 10000) : 0,
  };
}

function href(f: InboxFilter, over: Partial<InboxFilter>): string {
  const m = { ...f, ...over };
  const p = new URLSearchParams();
  if (m.view !== 'all') p.set('view', m.view);
  if (m.status !== 'active') p.set('status', m.status);
  for (const k of ['urgency', 'assignee', 'tag', 'q'] as const) if (m[k]) p.set(k, m[k]);
  if (m.page > 0) p.set('page', String(m.page));
  const s = p.toString();
  return s ? `/inbox?${s}` : '/inbox';
}

export function registerInboxRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get('/inbox', async (req, reply) => {
    const { user } = staffOf(req);
    const filter = parseFilter(req.query as Record<string, unknown>);
    const now = ctx.clock.now();
    const { rows, hasMore } = queryInbox(ctx.db, ctx.features, user, filter, now);
    const counts = viewCounts(ctx.db, user, now);
    const deps = visibleDepartments(user) ?? [...Departments];
    const views = ['all', 'mine', ...deps].map((v) => ({
      key: v,
      label: translate(user.locale, v),
      count: counts[v] ?? 0,
      href: href({ ...filter, page: 0, view: v }, {}),
      current: v === filter.view,
    }));
    const users = ctx.db.prepare('SELECT username FROM users WHERE disabled = 0 ORDER BY username').all();
    return sendPage(ctx, req, reply, 'inbox', 'inbox', {
      filter,
      views,
      rows: rows.map((r) => ({ ...r, overdue: r.sla === 'breached', risk: r.sla === 'at_risk' })),
      statuses: Statuses.map((s) => ({ value: s, selected: s === filter.status })),
      urgencies: Urgencies.map((u) => ({ value: u, selected: u === filter.urgency })),
      users,
      prev: filter.page > 0 ? href(filter, { page: filter.page - 1 }) : null,
      next: hasMore ? href(filter, { page: filter.page + 1 }) : null,
      slaWired: ctx.features.slaClocks,
    });
  });
}
