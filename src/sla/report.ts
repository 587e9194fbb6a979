import type { Urgency } from '../config/index.ts';
import { ErrorCodes, MailroomError } from '../lib/index.ts';
import type { Db } from '../store/index.ts';
import { addDays, localToUtc } from './zone.ts';

/**
 * SLA figures per department and urgency for a period, as plain data for the CLI table, the JSON
 * output and the web chart. A conversation belongs to the period its first customer message
 * arrived in; "at risk" is the state right now, whatever the period.
 */

export interface SlaReportRow {
  department: string;
  urgency: Urgency | 'all';
  /** Conversations whose first customer message arrived in the period. */
  received: number;
  /** Of those, answered by staff (automatic acknowledgements do not count). */
  answered: number;
  answeredWithinSla: number;
  /** answeredWithinSla / conversations whose outcome is known (answered, or unanswered past due); null if none. */
  withinSlaPct: number | null;
  medianFirstResponseMs: number | null;
  p90FirstResponseMs: number | null;
  /** Running clocks in their warning window now (any period). */
  atRisk: number;
  /** Of the period's conversations: answered late, or still unanswered past due. */
  breached: number;
}

export interface SlaReport {
  since: number;
  until: number;
  generatedAt: number;
  rows: SlaReportRow[];
  total: SlaReportRow;
}

interface CohortRow {
  department: string;
  urgency: Urgency;
  first_started_at: number;
  first_due_at: number | null;
  first_response_at: number | null;
}

/** Nearest-rank percentile of sorted values: the value a person can point at, not an interpolation. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? null;
}

function summarise(
  department: string,
  urgency: Urgency | 'all',
  cohort: CohortRow[],
  atRisk: number,
  now: number,
): SlaReportRow {
  const times: number[] = [];
  let within = 0;
  let breached = 0;
  for (const c of cohort) {
    if (c.first_response_at !== null) {
      times.push(c.first_response_at - c.first_started_at);
      if (c.first_due_at !== null && c.first_response_at <= c.first_due_at) within += 1;
      else breached += 1;
    } else if (c.first_due_at !== null && now > c.first_due_at) {
      breached += 1;
    }
  }
  times.sort((a, b) => a - b);
  const decided = within + breached;
  return {
    department,
    urgency,
    received: cohort.length,
    answered: times.length,
    answeredWithinSla: within,
    withinSlaPct: decided === 0 ? null : Math.round((within / decided) * 1000) / 10,
    medianFirstResponseMs: percentile(times, 50),
    p90FirstResponseMs: percentile(times, 90),
    atRisk,
    breached,
  };
}

const URGENCY_ORDER: Record<string, number> = { urgent: 0, normal: 1, thanks: 2 };

export function slaReport(db: Db, opts: { since: number; until: number; now: number }): SlaReport {
  const cohort = db
    .prepare(
      `SELECT COALESCE(k.department, c.department, 'unknown') AS department, k.urgency, k.first_started_at,
              k.first_due_at, k.first_response_at
       FROM sla_clocks k LEFT JOIN conversations c ON c.id = k.conversation_id
       WHERE k.first_started_at >= ? AND k.first_started_at < ?`,
    )
    .all(opts.since, opts.until) as CohortRow[];
  const risk = db
    .prepare(
      `SELECT COALESCE(k.department, c.department, 'unknown') AS department, k.urgency, COUNT(*) AS n
       FROM sla_clocks k LEFT JOIN conversations c ON c.id = k.conversation_id
       WHERE k.responded_at IS NULL AND k.paused_at IS NULL AND k.warn_at <= @now AND k.due_at >= @now
       GROUP BY 1, 2`,
    )
    .all({ now: opts.now }) as Array<{ department: string; urgency: Urgency; n: number }>;

  const groups = new Map<
    string,
    { department: string; urgency: Urgency; rows: CohortRow[]; atRisk: number }
  >();
  const group = (department: string, urgency: Urgency) => {
    const key = `${department}\u0000${urgency}`;
    let g = groups.get(key);
    if (!g) {
      g = { department, urgency, rows: [], atRisk: 0 };
      groups.set(key, g);
    }
    return g;
  };
  for (const c of cohort) group(c.department, c.urgency).rows.push(c);
  for (const r of risk) group(r.department, r.urgency).atRisk += r.n;

  const rows = [...groups.values()]
    .sort(
      (a, b) =>
        a.department.localeCompare(b.department) ||
        (URGENCY_ORDER[a.urgency] ?? 9) - (URGENCY_ORDER[b.urgency] ?? 9),
    )
    .map((g) => summarise(g.department, g.urgency, g.rows, g.atRisk, opts.now));
  const totalRisk = risk.reduce((sum, r) => sum + r.n, 0);
  return {
    since: opts.since,
    until: opts.until,
    generatedAt: opts.now,
    rows,
    total: summarise('all', 'all', cohort, totalRisk, opts.now),
  };
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/**
 * The start of a report period: "30d", "12h", "2w" back from now, or a date "YYYY-MM-DD" (its
 * midnight in the shop's time zone, config.sla.time_zone).
 */
export function parseSince(value: string, now: number, timeZone = 'UTC'): number {
  return parsePoint(value, now, timeZone, 0);
}

/** The end of a report period: like parseSince, but a date includes that whole day. */
export function parseUntil(value: string, now: number, timeZone = 'UTC'): number {
  return parsePoint(value, now, timeZone, 1);
}

function parsePoint(value: string, now: number, timeZone: string, dayOffset: number): number {
  const rel = /^(\d+)([hdw])$/.exec(value.trim());
  if (rel) return now - Number(rel[1]) * (UNIT_MS[rel[2] ?? 'd'] ?? 0);
  const abs = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value.trim());
  if (abs) {
    const date = { year: Number(abs[1]), month: Number(abs[2]), day: Number(abs[3]) };
    if (date.month >= 1 && date.month <= 12 && date.day >= 1 && date.day <= 31)
      return localToUtc(timeZone, addDays(date, dayOffset), 0);
  }
  throw new MailroomError(
    ErrorCodes.VALIDATION,
    `"${value}" is not a point in time; use a length back from now such as 30d, 12h or 2w, or a date YYYY-MM-DD`,
  );
}
