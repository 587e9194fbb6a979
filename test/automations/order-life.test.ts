import { describe, expect, it } from 'vitest';
import { stepsForOrder } from '../../src/automations/index.ts';
import { getOrderByExternalId } from '../../src/customers/index.ts';
import { ClockQueue } from './clock-queue.ts';
import { buildAutomations, DAY, sampleOrder } from './setup.ts';

function setup(config = {}) {
  let q: ClockQueue | undefined;
  const built = buildAutomations({
    queue: (clock) => {
      q = new ClockQueue(clock);
      return q;
    },
    config,
  });
  const queue = q as ClockQueue;
  return { ...built, queue };
}

describe('order automations', () => {
  it('runs the whole life: confirmation, one reminder, paid stops the second, review after delivery', async () => {
    const { intake, automations, queue, sent, db } = setup();
    await automations.start();
    await intake.submitOrder(sampleOrder);
    await queue.drain();
    expect(sent.map((s) => s.template)).toEqual(['order-confirmation']);
    expect(sent[0]).toMatchObject({
      to: 'ann@shop-customer.example',
      kind: 'transactional',
      locale: 'en',
      data: {
        order: {
          number: 'SO-2001',
          amount_due: 'CN¥256.00',
          payment_instructions: 'Bank transfer, reference SO-2001',
          shipping_terms: 'Ships within 2 days of payment',
        },
      },
    });

    await queue.advance(3 * DAY);
    expect(sent.map((s) => s.template)).toEqual(['order-confirmation', 'payment-reminder']);
    expect(sent[1]?.data).toMatchObject({
      reminder: { number: 1, of: 2 },
      order: { payment_deadline_at: '2026-01-12T09:00:00.000Z' },
    });

    await intake.submitEvent('SO-2001', { event_id: 'pay-1', type: 'paid' });
    await queue.advance(10 * DAY);
    expect(sent.map((s) => s.template)).toEqual(['order-confirmation', 'payment-reminder']);

    await intake.submitEvent('SO-2001', { event_id: 'ship-1', type: 'shipped' });
    await intake.submitEvent('SO-2001', { event_id: 'del-1', type: 'delivered' });
    await queue.advance(6 * DAY);
    expect(sent).toHaveLength(2);
    await queue.advance(1 * DAY);
    expect(sent.map((s) => s.template)).toEqual(['order-confirmation', 'payment-reminder', 'review-request']);
    expect(sent[2]?.kind).toBe('marketing');

    const order = getOrderByExternalId(db, 'SO-2001');
    const steps = stepsForOrder(db, order?.id ?? 0).map((s) => [
      s.step_key.replace(/^order-\d+-/, ''),
      s.status,
    ]);
    expect(steps).toEqual([
      ['confirmation', 'sent'],
      ['reminder-1', 'sent'],
      ['reminder-2', 'cancelled'],
      ['review-1', 'sent'],
    ]);
    expect(new Set(sent.map((s) => s.idempotencyKey)).size).toBe(3);
  });

  it('sends at most the configured number of reminders to an order never paid', async () => {
    const { intake, automations, queue, sent } = setup({ payment_reminder: { max: 2, after_days: 3 } });
    await automations.start();
    await intake.submitOrder(sampleOrder);
    await queue.advance(30 * DAY);
    expect(sent.map((s) => s.template)).toEqual([
      'order-confirmation',
      'payment-reminder',
      'payment-reminder',
    ]);
  });

  it('does not resend when the same order or event is posted again, nor when a job runs twice', async () => {
    const { intake, automations, queue, sent } = setup();
    await automations.start();
    await intake.submitOrder(sampleOrder);
    await intake.submitOrder(sampleOrder);
    await queue.drain();
    await intake.submitEvent('SO-2001', { event_id: 'pay-1', type: 'paid' });
    await intake.submitEvent('SO-2001', { event_id: 'pay-1', type: 'paid' });
    await queue.advance(10 * DAY);
    expect(sent.map((s) => s.template)).toEqual(['order-confirmation']);
    const again = await automations.runStep({
      stepKey: 'order-1-confirmation',
      step: 'confirmation',
      orderId: 1,
      n: 1,
    });
    expect(again).toEqual({ status: 'done-before', reason: 'sent' });
    expect(sent).toHaveLength(1);
  });

  it('a reminder already due when the order is paid is skipped at run time', async () => {
    const { intake, automations, queue, sent, db } = setup();
    await automations.start();
    await intake.submitOrder(sampleOrder);
    await queue.drain();
    // The shop marks the order paid directly in the database path a worker cannot see coming.
    db.prepare("UPDATE orders SET status = 'paid', paid_at = ? WHERE external_id = 'SO-2001'").run(
      Date.now(),
    );
    await queue.advance(3 * DAY);
    expect(sent.map((s) => s.template)).toEqual(['order-confirmation']);
  });

  it('moves a send out of quiet hours in the customer time zone', async () => {
    const { intake, automations, queue, sent, clock } = setup();
    await automations.start();
    // 14:00 UTC is 22:00 in Shanghai: inside the default 21:00-08:00 quiet hours.
    clock.set(Date.UTC(2026, 0, 5, 14, 0, 0));
    await intake.submitOrder(sampleOrder);
    await queue.drain();
    expect(sent).toHaveLength(0);
    await queue.advance(Date.UTC(2026, 0, 5, 23, 59, 0) - clock.now());
    expect(sent).toHaveLength(0);
    await queue.advance(60_000);
    expect(sent.map((s) => s.template)).toEqual(['order-confirmation']);
    expect(clock.now()).toBe(Date.UTC(2026, 0, 6, 0, 0, 0));
  });

  it('cancelling the order stops reminders and the review request', async () => {
    const { intake, automations, queue, sent } = setup();
    await automations.start();
    await intake.submitOrder(sampleOrder);
    await queue.drain();
    await intake.submitEvent('SO-2001', { event_id: 'c-1', type: 'cancelled' });
    await queue.advance(20 * DAY);
    expect(sent.map((s) => s.template)).toEqual(['order-confirmation']);
    expect(queue.jobs()).toHaveLength(0);
  });

  it('respects suppression: hard bounces stop everything, other suppression only marketing', async () => {
    const { intake, automations, queue, sent, db } = setup();
    await automations.start();
    const suppress = db.prepare(
      "INSERT INTO suppressions (address, reason, source, at) VALUES (?, ?, 'test', 0)",
    );
    suppress.run('ann@shop-customer.example', 'unsubscribed');
    suppress.run('bob@shop-customer.example', 'hard_bounce');
    await intake.submitOrder(sampleOrder);
    await intake.submitOrder({ ...sampleOrder, id: 'SO-2002', email: 'bob@shop-customer.example' });
    await queue.drain();
    expect(sent.map((s) => [s.to, s.template])).toEqual([
      ['ann@shop-customer.example', 'order-confirmation'],
    ]);
    for (const [id, n] of [['SO-2001', 1]] as const) {
      await intake.submitEvent(id, { event_id: `p${n}`, type: 'paid' });
      await intake.submitEvent(id, { event_id: `d${n}`, type: 'delivered' });
    }
    await queue.advance(8 * DAY);
    expect(sent.map((s) => s.template)).toEqual(['order-confirmation']);
  });

  it('turns a step off when its config says so', async () => {
    const { intake, automations, queue, sent } = setup({ confirmation: { enabled: false } });
    await automations.start();
    await intake.submitOrder(sampleOrder);
    await queue.advance(3 * DAY);
    expect(sent.map((s) => s.template)).toEqual(['payment-reminder']);
  });
});
