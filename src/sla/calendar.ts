import type { ParsedConfig } from '../config/index.ts';
import { ErrorCodes, MailroomError } from '../lib/index.ts';
import {
  addDays,
  assertTimeZone,
  isoDate,
  type LocalDate,
  localDateTime,
  localToUtc,
  parseIsoDate,
} from './zone.ts';

/**
 * The business calendar: when the shop counts as open. Pure data built once from config.sla.
 * With no opening hours configured the shop is open around the clock (holidays still close it).
 */
export interface BusinessCalendar {
  timeZone: string;
  /** Index 0 = Sunday ... 6 = Saturday: sorted, non-overlapping [open, close) minutes from local midnight. */
  week: ReadonlyArray<ReadonlyArray<readonly [number, number]>>;
  /** Inclusive ranges of local dates "YYYY-MM-DD" (compared as strings). */
  holidays: ReadonlyArray<{ from: string; to: string }>;
}

export type SlaConfig = ParsedConfig['sla'];

const DAY_KEYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const FULL_DAY = 24 * 60;
/** Looking further than this for an open hour means the calendar has none left. */
const MAX_SCAN_DAYS = 3 * 366;

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

function invalid(message: string): MailroomError {
  return new MailroomError(ErrorCodes.CONFIG_INVALID, message);
}

export interface CalendarInput {
  time_zone: string;
  hours?: Partial<Record<(typeof DAY_KEYS)[number], Array<[string, string]>>>;
  holidays?: string[];
}

export function buildCalendar(sla: CalendarInput): BusinessCalendar {
  assertTimeZone(sla.time_zone);
  const hours = sla.hours ?? {};
  const anyHours = DAY_KEYS.some((k) => (hours[k]?.length ?? 0) > 0);
  const week = DAY_KEYS.map((key) => {
    if (!anyHours) return [[0, FULL_DAY] as const];
    const ranges = (hours[key] ?? []).map(([open, close]) => {
      const o = minutesOf(open);
      // "00:00" as a closing time means midnight at the end of the day.
      const c = close === '00:00' ? FULL_DAY : minutesOf(close);
      if (c <= o)
        throw invalid(
          `sla.hours.${key}: "${open}"-"${close}" closes before it opens; split hours past midnight into two days`,
        );
      return [o, c] as [number, number];
    });
    ranges.sort((a, b) => a[0] - b[0]);
    const merged: Array<[number, number]> = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    return merged.map(([o, c]) => [o, c] as const);
  });
  const holidays = (sla.holidays ?? []).map((h) => {
    const [from = '', to = from] = h.split('..');
    parseIsoDate(from);
    parseIsoDate(to);
    if (to < from) throw invalid(`sla.holidays: range "${h}" ends before it starts`);
    return { from, to };
  });
  return { timeZone: sla.time_zone, week, holidays };
}

export function isHoliday(cal: BusinessCalendar, date: LocalDate): boolean {
  const d = isoDate(date);
  return cal.holidays.some((h) => d >= h.from && d <= h.to);
}

/** Open intervals [start, end) in UTC ms of one local date, in order. */
export function openIntervalsOn(cal: BusinessCalendar, date: LocalDate): Array<[number, number]> {
  if (isHoliday(cal, date)) return [];
  const weekday = new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay();
  const out: Array<[number, number]> = [];
  for (const [o, c] of cal.week[weekday] ?? []) {
    const start = localToUtc(cal.timeZone, date, o);
    const end =
      c === FULL_DAY ? localToUtc(cal.timeZone, addDays(date, 1), 0) : localToUtc(cal.timeZone, date, c);
    // An opening hour wholly inside a DST gap has no length.
    if (end > start) out.push([start, end]);
  }
  return out;
}

/**
 * Open intervals overlapping [fromMs, ...), clipped to start no earlier than fromMs, in time order.
 * Stops after MAX_SCAN_DAYS of closed days so a calendar of only holidays cannot loop forever.
 */
export function* openIntervalsFrom(cal: BusinessCalendar, fromMs: number): Generator<[number, number]> {
  let date = addDays(localDateTime(cal.timeZone, fromMs), -1);
  let closedDays = 0;
  for (;;) {
    const intervals = openIntervalsOn(cal, date);
    closedDays = intervals.length === 0 ? closedDays + 1 : 0;
    if (closedDays > MAX_SCAN_DAYS)
      throw invalid(
        `the SLA calendar has no opening hours in ${MAX_SCAN_DAYS} days after ${isoDate(date)}; check sla.hours and sla.holidays`,
      );
    for (const [s, e] of intervals) {
      if (e <= fromMs) continue;
      yield [Math.max(s, fromMs), e];
    }
    date = addDays(date, 1);
  }
}
