import { describe, expect, it } from 'vitest';
import { createOrderIntake, importOrdersCsv } from '../../src/automations/index.ts';
import { getOrderByExternalId, parseCsv } from '../../src/customers/index.ts';
import { ManualClock } from '../../src/lib/index.ts';
import { migrate, openDatabase } from '../../src/store/index.ts';
import { ClockQueue } from './clock-queue.ts';
import { buildAutomations } from './setup.ts';

const CSV = [
  '\uFEFFid,email,name,currency,amount,items,status,payment_due_at',
  'SO-1,wang@example.cn,"Wang, Fang",CNY,128.00,"2 x 龙井茶 @ 64.00",pending,2026-01-12',
  'SO-2,li@example.cn,Li,CNY,99.5,,delivered,',
  'SO-3,not-an-address,X,CNY,10,,pending,',
  'SO-4,chen@example.cn,Chen,yuan,abc,,paid,',
  'SO-5,zhao@example.cn,"Zhao ""Z""\nsecond line",CNY,5,,shipped,soon',
  ',,,,,,,',
  'SO-6,sun@example.cn,Sun,CNY,5,,lost,',
].join('\r\n');

describe('orders CSV import', () => {
  it('parses quotes, doubled quotes, commas and line breaks inside fields', () => {
    const recs = parseCsv('a,b\n"x, y","he said ""hi""\nthen left"\nlast,\n');
    expect(recs).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['x, y', 'he said "hi"\nthen left'] },
      { line: 4, fields: ['last', ''] },
    ]);
    expect(() => parseCsv('a\n"open')).toThrow(/line 2.*never closed/);
  });

  it('imports good rows, reports each bad row with its line and field, and is safe to run twice', async () => {
    const db = openDatabase(':memory:');
    migrate(db);
    const intake = createOrderIntake({ db, clock: new ManualClock(), automations: null });
    const report = await importOrdersCsv(intake, CSV);
    expect(report.created).toBe(2);
    expect(report.failed).toEqual([
      { line: 4, order: 'SO-3', errors: ['email: expected an email address'] },
      {
        line: 5,
        order: 'SO-4',
        errors: [
          'currency: expected a currency code such as CNY',
          'amount: expected a whole number of cents >= 0',
        ],
      },
      {
        line: 6,
        order: 'SO-5',
        errors: ['payment_due_at: expected an ISO 8601 time such as 2026-01-05T09:00:00Z'],
      },
      {
        line: 9,
        order: 'SO-6',
        errors: ['status: expected one of pending, paid, shipped, delivered, cancelled, refunded'],
      },
    ]);
    expect(getOrderByExternalId(db, 'SO-1')).toMatchObject({
      amount_cents: 12800,
      payment_due_at: Date.UTC(2026, 0, 12),
      items: JSON.stringify([{ name: '龙井茶', quantity: 2, unit_cents: 6400 }]),
    });
    expect(getOrderByExternalId(db, 'SO-2')).toMatchObject({ status: 'delivered', amount_cents: 9950 });

    const again = await importOrdersCsv(intake, CSV);
    expect(again).toMatchObject({ created: 0, updated: 2 });
    expect(db.prepare('SELECT count(*) AS n FROM order_events').get()).toEqual({ n: 3 });
  });

  it('imported orders get their confirmation once the automations reconcile', async () => {
    const { db, automations, queue, sent } = buildAutomations({ queue: (clock) => new ClockQueue(clock) });
    const intake = createOrderIntake({
      db,
      clock: new ManualClock(Date.UTC(2026, 0, 5, 9)),
      automations: null,
    });
    await importOrdersCsv(intake, CSV);
    await automations.start();
    await (queue as ClockQueue).drain();
    expect(sent.map((s) => [s.to, s.template])).toEqual([['wang@example.cn', 'order-confirmation']]);
    expect(await automations.reconcile()).toBe(0);
  });
});
