import { type BusinessCalendar, openIntervalsFrom } from './calendar.ts';

/**
 * Due-time arithmetic. Pure: no clock, no I/O. A deadline that lands exactly on closing time stays
 * there (due Friday 18:00, not Monday 09:00), which is what a person reading the inbox expects.
 */

export function addBusinessTime(cal: BusinessCalendar, startMs: number, durationMs: number): number {
  if (durationMs <= 0) return startMs;
  let remaining = durationMs;
  for (const [s, e] of openIntervalsFrom(cal, startMs)) {
    const available = e - s;
    if (remaining <= available) return s + remaining;
    remaining -= available;
  }
  // Unreachable: openIntervalsFrom never ends, it throws when the calendar has no open hours left.
  return startMs;
}

/** Business milliseconds between a and b; negative when b is before a. */
export function businessTimeBetween(cal: BusinessCalendar, a: number, b: number): number {
  if (b < a) return -businessTimeBetween(cal, b, a);
  let total = 0;
  for (const [s, e] of openIntervalsFrom(cal, a)) {
    if (s >= b) break;
    total += Math.min(e, b) - s;
  }
  return total;
}

/** How a target counts time. */
export interface Counting {
  businessHours: boolean;
}

/** The instant `durationMs` of counted time after start: wall clock simply adds. */
export function addCountedTime(
  cal: BusinessCalendar,
  counting: Counting,
  startMs: number,
  durationMs: number,
): number {
  return counting.businessHours ? addBusinessTime(cal, startMs, durationMs) : startMs + durationMs;
}

export function countedTimeBetween(cal: BusinessCalendar, counting: Counting, a: number, b: number): number {
  return counting.businessHours ? businessTimeBetween(cal, a, b) : b - a;
}
