import { describe, expect, it } from 'vitest';
import { automationsConfig, automationsSchema, nextAllowedTime } from '../../src/automations/index.ts';

const Q = { start: '21:00', end: '08:00' };

describe('quiet hours', () => {
  it('leaves a send in the allowed window alone', () => {
    const t = Date.UTC(2026, 0, 5, 9, 0); // 17:00 Shanghai
    expect(nextAllowedTime(t, 'Asia/Shanghai', Q)).toBe(t);
  });

  it('moves a late-evening send to 08:00 the next local morning', () => {
    const t = Date.UTC(2026, 0, 5, 14, 30); // 22:30 Shanghai
    expect(nextAllowedTime(t, 'Asia/Shanghai', Q)).toBe(Date.UTC(2026, 0, 6, 0, 0));
  });

  it('moves an early-morning send to 08:00 the same local day', () => {
    const t = Date.UTC(2026, 0, 5, 20, 0); // 03:00 on the 6th in Shanghai
    expect(nextAllowedTime(t, 'Asia/Shanghai', Q)).toBe(Date.UTC(2026, 0, 6, 0, 0));
  });

  it('uses local wall time across a daylight-saving change', () => {
    // Berlin springs forward on 2026-03-29: 08:00 local is 06:00 UTC that morning.
    const t = Date.UTC(2026, 2, 28, 22, 0); // 23:00 CET on the 28th
    expect(nextAllowedTime(t, 'Europe/Berlin', Q)).toBe(Date.UTC(2026, 2, 29, 6, 0));
  });

  it('handles a window that does not wrap midnight, and no window', () => {
    const lunch = { start: '12:00', end: '13:30' };
    expect(nextAllowedTime(Date.UTC(2026, 0, 5, 12, 15), 'UTC', lunch)).toBe(Date.UTC(2026, 0, 5, 13, 30));
    expect(nextAllowedTime(Date.UTC(2026, 0, 5, 23, 0), 'UTC', null)).toBe(Date.UTC(2026, 0, 5, 23, 0));
  });
});

describe('automations config', () => {
  it('has defaults for every step and rejects misspelt keys', () => {
    const c = automationsConfig();
    expect(c.payment_reminder).toMatchObject({ after_days: 3, max: 2, template: 'payment-reminder' });
    expect(c.follow_up).toMatchObject({ after_days: 2, mode: 'mail' });
    expect(c.review_request.after_days).toBe(7);
    const bad = automationsSchema.safeParse({ payment_reminder: { after_dayz: 1 } });
    expect(bad.success).toBe(false);
  });
});
