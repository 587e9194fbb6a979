import { existsSync } from 'node:fs';
import { ErrorCodes, MailroomError, systemClock } from '../../lib/index.ts';
import { mostOverriddenRules, type OverriddenRule } from '../../rules/index.ts';
import { parseSince, parseUntil, type SlaReport, type SlaReportRow, slaReport } from '../../sla/index.ts';
import { openDatabase, schemaVersion } from '../../store/index.ts';
import { type Command, UsageError } from '../command.ts';

/** The first schema version that has the SLA tables (migration 0006_sla). */
const SLA_SCHEMA = 6;

function duration(ms: number | null): string {
  if (ms === null) return '-';
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

function cells(r: SlaReportRow): string[] {
  return [
    r.department,
    r.urgency,
    String(r.received),
    String(r.answered),
    r.withinSlaPct === null ? '-' : `${r.withinSlaPct.toFixed(1)}%`,
    duration(r.medianFirstResponseMs),
    duration(r.p90FirstResponseMs),
    String(r.atRisk),
    String(r.breached),
  ];
}

const HEADER = [
  'department',
  'urgency',
  'received',
  'answered',
  'within SLA',
  'median',
  'p90',
  'at risk',
  'breached',
];

export function formatSlaTable(report: SlaReport): string[] {
  const body = [...report.rows.map(cells), cells(report.total)];
  const widths = HEADER.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  // Text columns left-aligned, numbers right-aligned, as people read tables.
  const line = (row: string[]) =>
    row
      .map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const period = `${new Date(report.since).toISOString().slice(0, 16)}Z .. ${new Date(report.until).toISOString().slice(0, 16)}Z`;
  return [
    `SLA, first response, conversations received ${period}`,
    '',
    line(HEADER),
    rule,
    ...body.slice(0, -1).map(line),
    rule,
    line(body[body.length - 1] ?? []),
  ];
}

export function formatCorrections(rows: OverriddenRule[], since: number): string[] {
  const head = `Rules staff overrode since ${new Date(since).toISOString().slice(0, 10)}`;
  if (rows.length === 0) return [head, '', 'No corrections: staff kept every sorting decision.'];
  const table = [
    ['rule', 'field', 'corrections', 'usual change'],
    ...rows.map((r) => [r.rule, r.field, String(r.corrections), r.usualChange]),
  ];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
  return [
    head,
    '',
    ...table.map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    ),
  ];
}

export const report: Command = {
  name: 'report',
  summary:
    'print reports: "report sla" shows response times against the SLA; "report corrections" the rules staff override most',
  usage: 'sla [--since 30d] [--until YYYY-MM-DD] [--json]\ncorrections [--since 30d] [--json]',
  help: [
    'Counts conversations whose first customer message arrived in the period: received, answered,',
    'answered within the SLA (% of those whose outcome is known), median and 90th-percentile time to',
    'the first staff reply, breached; "at risk" is the number of clocks in their warning window now.',
    '--since takes 30d, 12h, 2w or a date; --until a date, included (default: now); dates are in sla.time_zone.',
    '--json prints the same data as JSON.',
    '',
    'corrections: the rules whose department or urgency staff changed most often in the period, with',
    'the change they usually made: the rules to improve first.',
  ].join('\n'),
  options: {
    since: { type: 'string' },
    until: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(ctx) {
    const [kind, ...extra] = ctx.positionals;
    if ((kind !== 'sla' && kind !== 'corrections') || extra.length > 0)
      throw new UsageError('expected "mailroom report sla" or "mailroom report corrections"');
    const config = ctx.config();
    const now = systemClock.now();
    const zone = config.sla.time_zone;
    let since: number;
    let until: number;
    try {
      since = parseSince(String(ctx.values.since ?? '30d'), now, zone);
      until = ctx.values.until === undefined ? now : parseUntil(String(ctx.values.until), now, zone);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (until <= since) throw new UsageError('--until must be after --since');
    const file = config.paths.dbFile;
    if (!existsSync(file))
      throw new MailroomError(
        ErrorCodes.NOT_FOUND,
        `no database at ${file}; run "mailroom migrate" or start mailroom first`,
      );
    const db = openDatabase(file, { readonly: true });
    try {
      if (schemaVersion(db) < SLA_SCHEMA)
        throw new MailroomError(
          ErrorCodes.DB_MIGRATION_FAILED,
          `${file} has no SLA tables yet (schema ${schemaVersion(db)}); run "mailroom migrate"`,
        );
      if (kind === 'corrections') {
        const rows = mostOverriddenRules(db, { since });
        if (ctx.values.json) ctx.out(JSON.stringify(rows, null, 2));
        else for (const l of formatCorrections(rows, since)) ctx.out(l);
        return 0;
      }
      const data = slaReport(db, { since, until, now });
      if (ctx.values.json) ctx.out(JSON.stringify(data, null, 2));
      else for (const l of formatSlaTable(data)) ctx.out(l);
    } finally {
      db.close();
    }
    return 0;
  },
};
