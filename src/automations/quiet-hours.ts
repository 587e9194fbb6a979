import { isTimeZone } from '../lib/index.ts';
import { localDateTime, localToUtc } from '../sla/index.ts';

export interface QuietHours {
  start: string;
  end: string;
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/** A zone the runtime knows, else the fallback: a customer's bad zone must not stop their mail. */
export function usableZone(zone: string | null | undefined, fallback: string): string {
  return zone && isTimeZone(zone) ? zone : fallback;
}

/**
 * The first instant at or after `at` outside quiet hours in `timeZone`. The window may wrap
 * midnight (21:00-08:00); a send that falls inside it moves to the window's end, local time.
 */
export function nextAllowedTime(at: number, timeZone: string, quiet: QuietHours | null): number {
  if (!quiet) return at;
  const start = minutes(quiet.start);
  const end = minutes(quiet.end);
  if (start === end) return at;
  const l = localDateTime(timeZone, at);
  const m = l.hour * 60 + l.minute;
  const wraps = start > end;
  const inside = wraps ? m >= start || m < end : m >= start && m < end;
  if (!inside) return at;
  // End of the window is today when we are before it (early morning), else tomorrow.
  const endToday = m < end;
  const base = new Date(Date.UTC(l.year, l.month - 1, l.day + (endToday ? 0 : 1)));
  return localToUtc(
    timeZone,
    { year: base.getUTCFullYear(), month: base.getUTCMonth() + 1, day: base.getUTCDate() },
    end,
  );
}
