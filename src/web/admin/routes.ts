import type { FastifyInstance } from 'fastify';
import { sendPage, staffOf, type WebContext } from '../context.ts';
import { translate } from '../i18n/messages.ts';
import { slaChartSvg, slaDays } from './sla-chart.ts';

function table(rows: Record<string, unknown>[]): { columns: string[]; rows: string[][] } {
  const columns = Object.keys(rows[0] ?? {});
  return { columns, rows: rows.map((r) => columns.map((c) => String(r[c] ?? ''))) };
}

export function registerAdminRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get('/admin/health', async (req, reply) => {
    const checkpoints = ctx.features.imapCheckpoints
      ? table(
          ctx.db.prepare(`SELECT * FROM ${ctx.features.imapCheckpoints} LIMIT 100`).all() as Record<
            string,
            unknown
          >[],
        )
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
    return sendPage(ctx, req, reply, 'health', 'health', { checkpoints, rules, queues, queueError });
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
    const extra = ctx.deps.slaReport
      ? JSON.stringify(ctx.deps.slaReport(now - 14 * 86_400_000), null, 2)
      : null;
    return sendPage(ctx, req, reply, 'sla', 'sla_report', { days, chart, extra });
  });
}
