import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMailroomError } from '../../src/lib/index.ts';
import {
  addBusinessTime,
  buildCalendar,
  businessTimeBetween,
  localDateTime,
  localToUtc,
} from '../../src/sla/index.ts';

const H = 3_600_000;
const utc = (s: string) => Date.parse(`${s}Z`);
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 16);
const weekdays9to18 = {
  mon: [['09:00', '18:00']],
  tue: [['09:00', '18:00']],
  wed: [['09:00', '18:00']],
  thu: [['09:00', '18:00']],
  fri: [['09:00', '18:00']],
} as Record<string, Array<[string, string]>>;

describe('zone helper', () => {
  it('reads local wall time and weekday in a zone', () => {
    expect(localDateTime('Asia/Shanghai', utc('2026-01-09T09:30'))).toMatchObject({
      year: 2026,
      month: 1,
      day: 9,
      hour: 17,
      minute: 30,
      weekday: 5,
    });
  });

  it('resolves ordinary local times to UTC in New York, Berlin and Shanghai', () => {
    const d = { year: 2026, month: 1, day: 5 };
    expect(iso(localToUtc('America/New_York', d, 9 * 60))).toBe('2026-01-05T14:00');
    expect(iso(localToUtc('Europe/Berlin', d, 9 * 60))).toBe('2026-01-05T08:00');
    expect(iso(localToUtc('Asia/Shanghai', d, 9 * 60))).toBe('2026-01-05T01:00');
    expect(iso(localToUtc('America/New_York', { year: 2026, month: 7, day: 1 }, 9 * 60))).toBe(
      '2026-07-01T13:00',
    );
  });

  it('moves a time skipped by spring-forward ahead by the gap (New York and Berlin)', () => {
    expect(iso(localToUtc('America/New_York', { year: 2026, month: 3, day: 8 }, 150))).toBe(
      '2026-03-08T07:30',
    );
    expect(iso(localToUtc('Europe/Berlin', { year: 2026, month: 3, day: 29 }, 150))).toBe('2026-03-29T01:30');
  });

  it('takes the first occurrence of a time repeated by fall-back (New York and Berlin)', () => {
    expect(iso(localToUtc('America/New_York', { year: 2026, month: 11, day: 1 }, 90))).toBe(
      '2026-11-01T05:30',
    );
    expect(iso(localToUtc('Europe/Berlin', { year: 2026, month: 10, day: 25 }, 150))).toBe(
      '2026-10-25T00:30',
    );
  });
});

describe('business calendar and due times', () => {
  const shanghai = buildCalendar({ time_zone: 'Asia/Shanghai', hours: weekdays9to18 });

  it('"24 business hours" from Friday 17:30 with 9-18 Mon-Fri lands on Wednesday 14:30', () => {
    // 0.5 h Friday + 9 h Monday + 9 h Tuesday = 18.5 h; the last 5.5 h run Wednesday 09:00-14:30.
    const fri1730 = utc('2026-01-09T09:30'); // 17:30 in Shanghai
    const due = addBusinessTime(shanghai, fri1730, 24 * H);
    expect(localDateTime('Asia/Shanghai', due)).toMatchObject({ day: 14, weekday: 3, hour: 14, minute: 30 });
    expect(businessTimeBetween(shanghai, fri1730, due)).toBe(24 * H);
    expect(businessTimeBetween(shanghai, due, fri1730)).toBe(-24 * H);
  });

  it('a deadline ending exactly at closing time stays on that day', () => {
    const fri0900 = utc('2026-01-09T01:00');
    expect(iso(addBusinessTime(shanghai, fri0900, 9 * H))).toBe('2026-01-09T10:00'); // Friday 18:00
    expect(iso(addBusinessTime(shanghai, fri0900, 9 * H + 1000))).toBe('2026-01-12T01:00'); // Monday 09:00:01
  });

  it('mail arriving at the weekend or at night starts counting when the shop opens', () => {
    const sat = utc('2026-01-10T04:00');
    expect(iso(addBusinessTime(shanghai, sat, 2 * H))).toBe('2026-01-12T03:00'); // Monday 11:00
    const tueNight = utc('2026-01-13T14:00'); // 22:00
    expect(iso(addBusinessTime(shanghai, tueNight, 1 * H))).toBe('2026-01-14T02:00'); // Wednesday 10:00
    expect(businessTimeBetween(shanghai, sat, utc('2026-01-11T15:00'))).toBe(0);
  });

  it('skips holidays: a single date and a Chinese New Year range', () => {
    const cal = buildCalendar({
      time_zone: 'Asia/Shanghai',
      hours: weekdays9to18,
      holidays: ['2026-01-01', '2026-02-16..2026-02-20'],
    });
    // Wednesday 2025-12-31 17:00 + 2 h -> 1 h Wednesday, New Year's Day closed, Friday 10:00.
    expect(iso(addBusinessTime(cal, utc('2025-12-31T09:00'), 2 * H))).toBe('2026-01-02T02:00');
    // Friday before the Spring Festival 17:00 + 4 h -> 1 h Friday, a closed week, Monday 23rd 12:00.
    expect(iso(addBusinessTime(cal, utc('2026-02-13T09:00'), 4 * H))).toBe('2026-02-23T04:00');
    expect(businessTimeBetween(cal, utc('2026-02-13T09:00'), utc('2026-02-23T04:00'))).toBe(4 * H);
  });

  it('no opening hours configured means 24x7, which equals wall clock even across DST', () => {
    const ny = buildCalendar({ time_zone: 'America/New_York' });
    const sat = utc('2026-03-07T17:00'); // Saturday 12:00 EST
    expect(addBusinessTime(ny, sat, 24 * H)).toBe(sat + 24 * H); // Sunday 13:00 EDT
    expect(localDateTime('America/New_York', sat + 24 * H).hour).toBe(13);
    // Holidays still close a 24x7 shop.
    const closed = buildCalendar({ time_zone: 'America/New_York', holidays: ['2026-03-08'] });
    expect(businessTimeBetween(closed, sat, sat + 48 * H)).toBe(48 * H - 23 * H);
  });

  for (const [zone, spring, fall] of [
    ['America/New_York', '2026-03-08', '2026-11-01'],
    ['Europe/Berlin', '2026-03-29', '2026-10-25'],
  ] as const) {
    it(`opening hours that straddle the DST change in ${zone} count real hours`, () => {
      const cal = buildCalendar({ time_zone: zone, hours: { sun: [['01:00', '04:00']] } });
      const day = (d: string) => {
        const [y, m, dd] = d.split('-').map(Number);
        const date = { year: y ?? 0, month: m ?? 0, day: dd ?? 0 };
        return [localToUtc(zone, date, 0), localToUtc(zone, date, 23 * 60)] as const;
      };
      const [s1, e1] = day(spring);
      const [s2, e2] = day(fall);
      expect(businessTimeBetween(cal, s1, e1)).toBe(2 * H); // 01:00-04:00 loses the skipped hour
      expect(businessTimeBetween(cal, s2, e2)).toBe(4 * H); // and gains the repeated one
    });
  }

  it('Berlin office hours keep 09:00 local on both sides of the spring change', () => {
    const berlin = buildCalendar({ time_zone: 'Europe/Berlin', hours: weekdays9to18 });
    // Friday 27 March 17:00 CET + 2 h -> Monday 30 March 10:00 CEST (08:00 UTC).
    expect(iso(addBusinessTime(berlin, utc('2026-03-27T16:00'), 2 * H))).toBe('2026-03-30T08:00');
    // Friday 23 October 17:00 CEST + 2 h -> Monday 26 October 10:00 CET (09:00 UTC).
    expect(iso(addBusinessTime(berlin, utc('2026-10-23T15:00'), 2 * H))).toBe('2026-10-26T09:00');
  });

  it('New York office hours keep 09:00 local across both changes', () => {
    const ny = buildCalendar({ time_zone: 'America/New_York', hours: weekdays9to18 });
    expect(iso(addBusinessTime(ny, utc('2026-03-06T22:00'), 2 * H))).toBe('2026-03-09T14:00');
    expect(iso(addBusinessTime(ny, utc('2026-10-30T21:00'), 2 * H))).toBe('2026-11-02T15:00');
  });

  it('rejects an unknown zone, hours that close before they open, and backwards ranges', () => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return isMailroomError(e) ? e.message : 'other';
      }
      return 'none';
    };
    expect(codeOf(() => buildCalendar({ time_zone: 'Mars/Olympus' }))).toContain('unknown time zone');
    expect(codeOf(() => buildCalendar({ time_zone: 'UTC', hours: { mon: [['18:00', '09:00']] } }))).toContain(
      'closes before it opens',
    );
    expect(codeOf(() => buildCalendar({ time_zone: 'UTC', holidays: ['2026-02-20..2026-02-16'] }))).toContain(
      'ends before it starts',
    );
    expect(codeOf(() => buildCalendar({ time_zone: 'UTC', holidays: ['2026-01-01..2029-12-31'] }))).toBe(
      'none',
    );
  });
});

describe('due-time properties (random zones, hours, starts and durations)', () => {
  const zones = ['America/New_York', 'Europe/Berlin', 'Asia/Shanghai', 'Australia/Lord_Howe', 'UTC'];
  const start2026 = Date.UTC(2026, 0, 1);
  const year = 365 * 24 * H;

  it('a local wall time read back from its UTC instant is the same wall time', () => {
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.integer({ min: 0, max: year / 60_000 }), (zone, minute) => {
        const t = start2026 + minute * 60_000;
        const l = localDateTime(zone, t);
        const u = localToUtc(zone, l, l.hour * 60 + l.minute);
        const back = localDateTime(zone, u);
        // Equal, or the first of two instants showing that wall time (fall-back overlap).
        expect(u <= t).toBe(true);
        expect([back.day, back.hour, back.minute]).toEqual([l.day, l.hour, l.minute]);
      }),
      { numRuns: 300 },
    );
  });

  it('the business time between a start and its due time is the duration asked for', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.boolean(),
        fc.integer({ min: 0, max: year }),
        fc.integer({ min: 1, max: 100 * H }),
        (zone, office, offset, duration) => {
          const cal = buildCalendar({
            time_zone: zone,
            hours: office ? weekdays9to18 : {},
            holidays: ['2026-02-16..2026-02-20', '2026-10-01'],
          });
          const start = start2026 + offset;
          const due = addBusinessTime(cal, start, duration);
          expect(due).toBeGreaterThanOrEqual(start + duration);
          expect(businessTimeBetween(cal, start, due)).toBe(duration);
          expect(businessTimeBetween(cal, start, due - 1)).toBe(duration - 1);
        },
      ),
      { numRuns: 200 },
    );
  });
});
