import type { Db } from '../../store/index.ts';

export interface SlaDay {
  day: string;
  received: number;
  met: number;
  breached: number;
}

const DAY = 86_400_000;

/** First-response results per UTC day from sla_clocks; null when that table lacks the report columns. */
export function slaDays(db: Db, now: number, days = 14): SlaDay[] | null {
  const since = Math.floor(now / DAY) * DAY - (days - 1) * DAY;
  let rows: { d: number; received: number; met: number; breached: number }[];
  try {
    rows = db
      .prepare(
        `SELECT first_started_at / ${DAY} AS d, count(*) AS received,
           sum(first_response_at IS NOT NULL AND first_response_at <= first_due_at) AS met,
           sum((first_response_at IS NOT NULL AND first_response_at > first_due_at)
               OR (first_response_at IS NULL AND first_due_at <= ?)) AS breached
         FROM sla_clocks WHERE first_started_at >= ? GROUP BY d`,
      )
      .all(now, since) as typeof rows;
  } catch {
    return null;
  }
  const byDay = new Map(rows.map((r) => [r.d, r]));
  const out: SlaDay[] = [];
  for (let i = 0; i < days; i++) {
    const d = Math.floor(since / DAY) + i;
    const r = byDay.get(d);
    out.push({
      day: new Date(d * DAY).toISOString().slice(0, 10),
      received: r?.received ?? 0,
      met: r?.met ?? 0,
      breached: r?.breached ?? 0,
    });
  }
  return out;
}

/** A bar chart as inline SVG (no script, no inline style: the page CSP allows neither). Numbers and dates only. */
export function slaChartSvg(days: SlaDay[], labels: { met: string; breached: string }): string {
  const w = 640;
  const h = 220;
  const pad = 30;
  const max = Math.max(1, ...days.map((d) => d.met + d.breached));
  const slot = (w - pad * 2) / Math.max(1, days.length);
  const bw = Math.max(4, slot * 0.6);
  const scale = (h - pad * 2) / max;
  const bars = days
    .map((d, i) => {
      const x = pad + i * slot + (slot - bw) / 2;
      const mh = d.met * scale;
      const bh = d.breached * scale;
      const base = h - pad;
      return [
        `<rect x="${x.toFixed(1)}" y="${(base - mh).toFixed(1)}" width="${bw.toFixed(1)}" height="${mh.toFixed(1)}" fill="#2e7d32"><title>${d.day} ${labels.met}: ${d.met}</title></rect>`,
        `<rect x="${x.toFixed(1)}" y="${(base - mh - bh).toFixed(1)}" width="${bw.toFixed(1)}" height="${bh.toFixed(1)}" fill="#c62828"><title>${d.day} ${labels.breached}: ${d.breached}</title></rect>`,
        i % 2 === 0
          ? `<text x="${(x + bw / 2).toFixed(1)}" y="${h - 10}" font-size="10" text-anchor="middle" fill="#555">${d.day.slice(5)}</text>`
          : '',
      ].join('');
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" class="chart"><line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#999"/><text x="${pad}" y="${pad - 10}" font-size="11" fill="#555">max ${max}</text>${bars}</svg>`;
}
