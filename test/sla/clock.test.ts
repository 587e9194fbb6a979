import { describe, expect, it } from 'vitest';
import { evaluateClock, localDateTime, type SlaEvent } from '../../src/sla/index.ts';
import { H, slaPolicy as policy, type SlaSettings } from './helpers.ts';

const T = Date.UTC(2026, 0, 5, 1, 0); // Monday 09:00 in Shanghai
const hours9to18 = Object.fromEntries(
  ['mon', 'tue', 'wed', 'thu', 'fri'].map((d) => [d, [['09:00', '18:00']]]),
) as NonNullable<SlaSettings>['hours'];

const inbound = (
  at: number,
  urgency: 'urgent' | 'normal' | 'thanks' = 'normal',
  department = 'sales',
): SlaEvent => ({
  type: 'inbound',
  at,
  urgency,
  department,
});

describe('SLA policy', () => {
  it('defaults to urgent 4 h, normal 24 h, thanks 72 h of wall-clock time', () => {
    const p = policy();
    expect(p.targetFor('urgent', 'sales')).toMatchObject({ firstResponseMs: 4 * H, businessHours: false });
    expect(p.targetFor('normal', null).firstResponseMs).toBe(24 * H);
    expect(p.targetFor('thanks', 'hr').firstResponseMs).toBe(72 * H);
  });

  it('takes per-urgency targets and per-department overrides from config', () => {
    const p = policy({
      targets: { normal: { first_response_h: 12, next_response_h: 6 } },
      departments: { finance: { normal: { first_response_h: 24, business_hours: true } } },
    });
    expect(p.targetFor('normal', 'sales')).toMatchObject({ firstResponseMs: 12 * H, nextResponseMs: 6 * H });
    expect(p.targetFor('normal', 'finance')).toMatchObject({
      firstResponseMs: 24 * H,
      nextResponseMs: 24 * H,
      businessHours: true,
      key: 'finance.normal',
    });
    expect(p.targetFor('urgent', 'finance').key).toBe('urgent');
  });
});

describe('SLA clock rules', () => {
  const p = policy();

  it('starts at the arrival and is met by a reply exactly at the deadline', () => {
    const due = T + 24 * H;
    const running = evaluateClock([inbound(T)], p, T + H);
    expect(running).toMatchObject({ state: 'running', kind: 'first', dueAt: due, warnAt: T + 19.2 * H });
    expect(evaluateClock([inbound(T)], p, due).state).toBe('running');
    expect(evaluateClock([inbound(T)], p, due + 1).state).toBe('breached');
    const atDeadline = evaluateClock([inbound(T), { type: 'staff_reply', at: due }], p, due + 10 * H);
    expect(atDeadline).toMatchObject({ state: 'met', firstResponseAt: due, firstDueAt: due });
  });

  it('a reply one second after the deadline is breached', () => {
    const late = T + 24 * H + 1000;
    expect(evaluateClock([inbound(T), { type: 'staff_reply', at: late }], p, late).state).toBe('breached');
  });

  it('an automatic acknowledgement does not stop the clock', () => {
    const s = evaluateClock([inbound(T), { type: 'staff_reply', at: T + 60_000, automatic: true }], p, T + H);
    expect(s).toMatchObject({ state: 'running', firstResponseAt: null });
  });

  it('a follow-up from the customer keeps the original due time', () => {
    const s = evaluateClock([inbound(T), inbound(T + 5 * H)], p, T + 6 * H);
    expect(s).toMatchObject({ generation: 1, dueAt: T + 24 * H });
  });

  it('pauses while waiting on the customer and resumes with the time left', () => {
    const events: SlaEvent[] = [inbound(T), { type: 'waiting', at: T + 2 * H }];
    expect(evaluateClock(events, p, T + 30 * H)).toMatchObject({
      state: 'paused',
      dueAt: null,
      pausedAt: T + 2 * H,
    });
    events.push({ type: 'resumed', at: T + 10 * H });
    expect(evaluateClock(events, p, T + 30 * H)).toMatchObject({ state: 'running', dueAt: T + 32 * H });
  });

  it('the customer writing again while waiting starts a fresh clock from that message', () => {
    const events: SlaEvent[] = [inbound(T), { type: 'waiting', at: T + 2 * H }, inbound(T + 50 * H)];
    expect(evaluateClock(events, p, T + 51 * H)).toMatchObject({
      state: 'running',
      kind: 'first',
      generation: 2,
      startedAt: T + 50 * H,
      dueAt: T + 74 * H,
      firstStartedAt: T,
    });
  });

  it('a later customer message after an answer runs on the next-response target', () => {
    const q = policy({ targets: { normal: { first_response_h: 24, next_response_h: 8 } } });
    const events: SlaEvent[] = [inbound(T), { type: 'staff_reply', at: T + H }, inbound(T + 30 * H)];
    expect(evaluateClock(events, q, T + 31 * H)).toMatchObject({
      state: 'running',
      kind: 'next',
      generation: 2,
      dueAt: T + 38 * H,
      firstResponseAt: T + H,
    });
  });

  it('a change of urgency recomputes the due time from the original arrival', () => {
    const events: SlaEvent[] = [inbound(T), { type: 'urgency', at: T + 3 * H, urgency: 'urgent' }];
    expect(evaluateClock(events, p, T + 3 * H)).toMatchObject({
      state: 'running',
      dueAt: T + 4 * H,
      urgency: 'urgent',
    });
    expect(evaluateClock(events, p, T + 5 * H).state).toBe('breached');
    // An urgency change after the answer leaves the answered clock alone.
    const answered: SlaEvent[] = [
      inbound(T),
      { type: 'staff_reply', at: T + 6 * H },
      { type: 'urgency', at: T + 7 * H, urgency: 'urgent' },
    ];
    expect(evaluateClock(answered, p, T + 8 * H)).toMatchObject({ state: 'met', dueAt: T + 24 * H });
  });

  it('a more urgent follow-up escalates, a "thanks" follow-up never relaxes', () => {
    expect(evaluateClock([inbound(T), inbound(T + H, 'urgent')], p, T + H).dueAt).toBe(T + 4 * H);
    expect(evaluateClock([inbound(T), inbound(T + H, 'thanks')], p, T + H).dueAt).toBe(T + 24 * H);
  });

  it('counts business hours for a department that asks for them', () => {
    const q = policy({
      time_zone: 'Asia/Shanghai',
      hours: hours9to18,
      departments: { finance: { normal: { first_response_h: 24, business_hours: true } } },
    });
    const fri1730 = Date.UTC(2026, 0, 9, 9, 30);
    const fin = evaluateClock([inbound(fri1730, 'normal', 'finance')], q, fri1730);
    expect(localDateTime('Asia/Shanghai', fin.dueAt ?? 0)).toMatchObject({ day: 14, hour: 14, minute: 30 });
    const sales = evaluateClock([inbound(fri1730, 'normal', 'sales')], q, fri1730);
    expect(sales.dueAt).toBe(fri1730 + 24 * H);
  });

  it('a pause in business hours does not count the closed or paused time', () => {
    const q = policy({
      time_zone: 'Asia/Shanghai',
      hours: hours9to18,
      targets: { normal: { first_response_h: 24, business_hours: true } },
    });
    // Monday 09:00 arrival, waiting at 12:00 (3 h used), taken back Tuesday 09:00: 21 h left -> Thursday 12:00.
    const events: SlaEvent[] = [
      inbound(T),
      { type: 'waiting', at: T + 3 * H },
      { type: 'resumed', at: T + 24 * H },
    ];
    const s = evaluateClock(events, q, T + 24 * H);
    expect(localDateTime('Asia/Shanghai', s.dueAt ?? 0)).toMatchObject({ day: 8, hour: 12, minute: 0 });
  });

  it('a clock already past due stays breached when it is set to wait', () => {
    const s = evaluateClock([inbound(T), { type: 'waiting', at: T + 25 * H }], p, T + 26 * H);
    expect(s.state).toBe('breached');
  });
});
