import type { Db } from '../../store/index.ts';
import type { SchemaFeatures } from '../inbox/query.ts';

/** Figures mailroom can read from its own tables, so /metrics says something before anything is wired. */
export function storeMetrics(db: Db, f: SchemaFeatures, now: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of db.prepare('SELECT direction, count(*) AS n FROM messages GROUP BY direction').all() as {
    direction: string;
    n: number;
  }[]) {
    out[r.direction === 'in' ? 'messages_ingested_total' : 'messages_outgoing_total'] = r.n;
  }
  out.messages_ingested_total ??= 0;
  out.conversations_open = (
    db.prepare("SELECT count(*) AS n FROM conversations WHERE status IN ('open', 'waiting')").get() as {
      n: number;
    }
  ).n;
  const mails = db.prepare('SELECT status, count(*) AS n FROM outbox GROUP BY status').all() as {
    status: string;
    n: number;
  }[];
  const byStatus = new Map(mails.map((r) => [r.status, r.n]));
  out.mails_sent_total = byStatus.get('sent') ?? 0;
  out.mails_failed_total = byStatus.get('failed') ?? 0;
  out.mails_uncertain_total = byStatus.get('uncertain') ?? 0;
  out.mails_suppressed_total = byStatus.get('suppressed') ?? 0;
  out.mails_pending = (byStatus.get('queued') ?? 0) + (byStatus.get('sending') ?? 0);
  if (f.ruleDecisions)
    out.messages_classified_total = (
      db.prepare('SELECT count(*) AS n FROM rule_decisions').get() as { n: number }
    ).n;
  if (f.slaClocks) {
    const r = db
      .prepare(
        `SELECT sum(state = 'breached' OR (state = 'running' AND due_at <= ?)) AS breached,
           sum(state = 'running' AND due_at > ? AND ${f.slaWarnAt ? 'warn_at <= ?' : '0 AND ? IS NULL'}) AS at_risk
         FROM sla_clocks`,
      )
      .get(now, now, now) as { breached: number | null; at_risk: number | null };
    out.sla_breached = r.breached ?? 0;
    out.sla_at_risk = r.at_risk ?? 0;
  }
  return out;
}

const HELP: Record<string, string> = {
  messages_ingested_total: 'Customer messages stored.',
  messages_outgoing_total: 'Outgoing messages stored.',
  messages_classified_total: 'Messages with a rule decision.',
  conversations_open: 'Conversations open or waiting.',
  mails_sent_total: 'Mails accepted by the SMTP relay.',
  mails_failed_total: 'Mails refused for good (after retries, or a permanent SMTP error).',
  mails_uncertain_total: 'Mails whose send was cut off after DATA: presumed delivered, never resent.',
  mails_suppressed_total: 'Mails not sent because the address is suppressed.',
  mails_pending: 'Mails queued or being sent.',
  sla_breached: 'Conversations past their SLA due time.',
  sla_at_risk: 'Conversations inside the SLA warning window.',
};

/** Prometheus text exposition format 0.0.4. Names are sanitised; values must be finite. */
export function prometheusText(values: Record<string, number>): string {
  const lines: string[] = [];
  for (const [rawName, value] of Object.entries(values).sort(([a], [b]) => a.localeCompare(b))) {
    if (!Number.isFinite(value)) continue;
    const name = `mailroom_${rawName.replace(/[^a-zA-Z0-9_]/g, '_')}`;
    if (HELP[rawName]) lines.push(`# HELP ${name} ${HELP[rawName]}`);
    lines.push(`# TYPE ${name} ${rawName.endsWith('_total') ? 'counter' : 'gauge'}`);
    lines.push(`${name} ${value}`);
  }
  return `${lines.join('\n')}\n`;
}
