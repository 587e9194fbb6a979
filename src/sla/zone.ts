import { ErrorCodes, MailroomError } from '../lib/index.ts';

/**
 * Wall-clock time in an IANA time zone, from Intl alone (no tz database dependency).
 * A local date is a plain { year, month, day }; minutes count from local midnight.
 */

export interface LocalDate {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
}

export interface LocalDateTime extends LocalDate {
  hour: number;
  minute: number;
  second: number;
  /** 0 = Sunday ... 6 = Saturday */
  weekday: number;
}

const DAY_MS = 86_400_000;
// Intl formatters are costly to build and immutable: memoise them per zone.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new MailroomError(
        ErrorCodes.CONFIG_INVALID,
        `sla.time_zone: unknown time zone "${timeZone}"; use an IANA name such as "Asia/Shanghai" or "Europe/Berlin"`,
      );
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** Throws CONFIG_INVALID when the zone name is not one the runtime knows. */
export function assertTimeZone(timeZone: string): void {
  formatter(timeZone);
}

/** The wall-clock reading in `timeZone` at the instant `ms`. */
export function localDateTime(timeZone: string, ms: number): LocalDateTime {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const year = parts.year ?? 1970;
  const month = parts.month ?? 1;
  const day = parts.day ?? 1;
  return {
    year,
    month,
    day,
    hour: parts.hour ?? 0,
    minute: parts.minute ?? 0,
    second: parts.second ?? 0,
    weekday: new Date(Date.UTC(year, month - 1, day)).getUTCDay(),
  };
}

/** Milliseconds the zone is ahead of UTC at instant `ms` (e.g. +8 h for Asia/Shanghai). */
export function zoneOffset(timeZone: string, ms: number): number {
  const l = localDateTime(timeZone, ms);
  const asUtc = Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second);
  // Intl has second resolution; keep the sub-second part of ms out of the offset.
  return asUtc - (ms - (((ms % 1000) + 1000) % 1000));
}

/**
 * The UTC instant of a local wall time. Daylight-saving edges follow the "compatible" rule
 * people expect (same as Temporal and most calendars): a time skipped by a spring-forward gap
 * moves forward by the gap (02:30 -> 03:30), and a time repeated by a fall-back overlap means
 * its first occurrence.
 */
export function localToUtc(timeZone: string, date: LocalDate, minutes: number): number {
  const wall = Date.UTC(date.year, date.month - 1, date.day) + minutes * 60_000;
  const before = zoneOffset(timeZone, wall - DAY_MS);
  const after = zoneOffset(timeZone, wall + DAY_MS);
  const candidates = [wall - before, wall - after].filter((t) => t + zoneOffset(timeZone, t) === wall);
  if (candidates.length > 0) return Math.min(...candidates);
  // In a gap: read the wall time with the offset in force before the jump.
  return wall - before;
}

export function addDays(date: LocalDate, days: number): LocalDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

export function weekdayOf(date: LocalDate): number {
  return new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay();
}

/** "YYYY-MM-DD", which sorts the same as the dates. */
export function isoDate(date: LocalDate): string {
  return `${String(date.year).padStart(4, '0')}-${String(date.month).padStart(2, '0')}-${String(date.day).padStart(2, '0')}`;
}

export function parseIsoDate(s: string): LocalDate {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) throw new MailroomError(ErrorCodes.CONFIG_INVALID, `expected a date "YYYY-MM-DD", got "${s}"`);
  return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
}
