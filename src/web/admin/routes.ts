import type { FastifyInstance } from 'fastify';
import type { SlaReportRow } from '../../sla/index.ts';
import { sendPage, staffOf, type WebContext } from '../context.ts';
import { translate } from '../i18n/messages.ts';
import { BULL_BOARD_PATH, registerBullBoard } from './bull-board.ts';
import { oauthTokenRows } from './oauth-expiry.ts';
import { slaChartSvg, slaDays } from './sla-chart.ts';

const REPORT_PERIODS = [7, 14, 30, 90];

/** 3 h 20 min, 45 min, 2 d 4 h: how long a customer waited, at a glance. */
function duration(ms: number | null): string {
  if (ms === null) return '–';
  const min = Math.round(ms / 60_000);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function registerAdminRoutes(app: FastifyInstance, ctx: WebContext): void {
  // BullMQ: its own dashboard. Embedded queue: the counts table on the health page is the view.
  const bullQueues = ctx.deps.bullmqQueues?.() ?? null;
  if (bullQueues) registerBullBoard(app, bullQueues);
  const dashboard = bullQueues ? `${BULL_BOARD_PATH}/` : null;

  app.get('/admin/queues', async (_req, reply) => reply.redirect(dashboard ?? '/admin/health#queues', 302));

  app.get('/admin/health', async (req, reply) => {
    const mailboxes = ctx.deps.mailboxStatus
      ? ctx.deps.mailboxStatus().map((m) => ({
          ...m,
          behind: m.serverMessages !== null && m.serverMessages > m.ingested,
          gaps: m.uidGaps.length
            ? m.uidGaps.slice(0, 20).join(', ') + (m.uidGaps.length > 20 ? ' …' : '')
            : '',
        }))
      : null;
    const rules = ctx.deps.rulesStatus ? ctx.deps.rulesStatus() : null;
    let queues: { name: string; counts: Record<string, number> }[] | null = null;
    let queueError: string | null = null;
    if (ctx.deps.queueCounts) {
      try {
        const q = await ctx.deps.queueCounts();
        queues = Object.entries(q).map(([name, counts]) => ({ name, counts: { ...counts } }));
      } catch (e) {
        queueError = (e as Error).message;
      }
    }
    const tokens = oauthTokenRows(ctx.deps.config, ctx.clock.now()).map((t) => ({
      ...t,
      stateKey: `token_${t.state}`,
      sourceKey: `token_source_${t.source}`,
    }));
    return sendPage(ctx, req, reply, 'health', 'health', {
      mailboxes,
      tokens,
      rules,
      queues,
      queueError,
      dashboard,
    });
  });

  app.get('/admin/sla', async (req, reply) => {
    const { user } = staffOf(req);
    const now = ctx.clock.now();
    const days = ctx.features.slaClocks ? slaDays(ctx.db, now) : null;
    const chart = days
      ? slaChartSvg(days, {
          met: translate(user.locale, 'met'),
          breached: translate(user.locale, 'breached'),
        })
      : null;
    const q = req.query as { days?: string };
    const period = REPORT_PERIODS.includes(Number(q.days)) ? Number(q.days) : 14;
    const report = ctx.deps.slaReport ? ctx.deps.slaReport(now - period * 86_400_000) : null;
    const row = (r: SlaReportRow) => ({
      department: r.department,
      urgency: r.urgency,
      received: r.received,
      answered: r.answered,
      within: r.withinSlaPct === null ? '–' : `${Math.round(r.withinSlaPct)}%`,
      median: duration(r.medianFirstResponseMs),
      p90: duration(r.p90FirstResponseMs),
      atRisk: r.atRisk,
      breached: r.breached,
    });
    return sendPage(ctx, req, reply, 'sla', 'sla_report', {
      days,
      chart,
      periods: REPORT_PERIODS.map((n) => ({ n, selected: n === period })),
      report: report ? { rows: report.rows.map(row), total: row(report.total) } : null,
    });
  });
}
