import { describe, expect, it } from 'vitest';
import {
  addTag,
  applyOrderEvent,
  compileSegment,
  countSegment,
  listSegmentMembers,
  parseOrderInput,
  parseSegmentFilter,
  recordContact,
  saveSegment,
  segmentMembersFn,
  setVip,
  upsertOrder,
} from '../../src/customers/index.ts';
import { isMailroomError } from '../../src/lib/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';

const T0 = Date.UTC(2026, 0, 5);
const DAY = 86_400_000;

function paidOrder(db: Db, id: string, email: string, cents: number, at: number, locale = 'en') {
  upsertOrder(
    db,
    parseOrderInput({
      id,
      email,
      locale,
      currency: 'CNY',
      amount_cents: cents,
      created_at: new Date(at).toISOString(),
    }),
    at,
  );
  applyOrderEvent(db, id, { event_id: `pay-${id}`, type: 'paid', payload: {} }, at);
}

function shop() {
  const db = openDatabase(':memory:');
  migrate(db);
  paidOrder(db, 'A1', 'big@x.example', 500_00, T0 - 90 * DAY, 'zh-CN');
  paidOrder(db, 'A2', 'big@x.example', 300_00, T0 - 10 * DAY, 'zh-CN');
  paidOrder(db, 'B1', 'small@x.example', 20_00, T0 - 200 * DAY, 'zh-TW');
  paidOrder(db, 'C1', 'mid@x.example', 150_00, T0 - 5 * DAY);
  recordContact(db, { email: 'lead@x.example', locale: 'en' }, T0);
  const big = recordContact(db, { email: 'big@x.example' }, T0);
  setVip(db, big?.id ?? 0, true);
  addTag(db, big?.id ?? 0, 'Wholesale');
  return db;
}

describe('segments', () => {
  it('counts customers by VIP, total spent, order count, last order, tag and locale', () => {
    const db = shop();
    expect(countSegment(db, {})).toBe(4);
    expect(countSegment(db, { vip: true })).toBe(1);
    expect(countSegment(db, { min_total_cents: 100_00 })).toBe(2);
    expect(countSegment(db, { min_orders: 2 })).toBe(1);
    expect(countSegment(db, { max_orders: 0 })).toBe(1);
    expect(countSegment(db, { last_order_before: new Date(T0 - 30 * DAY).toISOString() })).toBe(1);
    expect(countSegment(db, { last_order_after: '2025-12-20' })).toBe(2);
    expect(countSegment(db, { tags: ['wholesale'] })).toBe(1);
    expect(countSegment(db, { locale: 'zh' })).toBe(2);
    expect(countSegment(db, { locale: 'zh-TW' })).toBe(1);
    expect(countSegment(db, { locale: 'zh', min_total_cents: 100_00 })).toBe(1);
  });

  it('saves a segment, lists its members for campaigns and pages through them', () => {
    const db = shop();
    saveSegment(db, 'big-spenders', 'Big spenders', { min_total_cents: 100_00 }, T0);
    expect(countSegment(db, 'big-spenders')).toBe(2);
    expect(listSegmentMembers(db, 'big-spenders').map((m) => m.email)).toEqual([
      'big@x.example',
      'mid@x.example',
    ]);
    const first = listSegmentMembers(db, 'big-spenders', { limit: 1 });
    expect(
      listSegmentMembers(db, 'big-spenders', { afterId: first[0]?.customerId ?? 0 }).map((m) => m.email),
    ).toEqual(['mid@x.example']);
    expect(segmentMembersFn(db)('big-spenders')[0]).toMatchObject({ email: 'big@x.example', customerId: 1 });
  });

  it('keeps filter values out of the SQL text', () => {
    const evil = "x' OR 1=1 --";
    const compiled = compileSegment(parseSegmentFilter({ tags: [evil], locale: evil }));
    expect(compiled.where).not.toContain(evil);
    expect(compiled.params).toContain(evil);
    expect(countSegment(shop(), { tags: [evil] })).toBe(0);
  });

  it('rejects an unknown filter key with the key named', () => {
    try {
      countSegment(shop(), { vip: true, spent_over: 5 } as never);
      throw new Error('expected an error');
    } catch (e) {
      expect(isMailroomError(e, 'VALIDATION')).toBe(true);
      expect((e as Error).message).toContain('spent_over');
    }
  });
});
