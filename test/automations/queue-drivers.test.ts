import { afterEach, describe, expect, it } from 'vitest';
import { stepsForOrder } from '../../src/automations/index.ts';
import { getOrderByExternalId } from '../../src/customers/index.ts';
import { type Clock, type ManualClock, randomId, silentLogger, systemClock } from '../../src/lib/index.ts';
import { createBullmqQueue } from '../../src/queue/bullmq-queue.ts';
import { createEmbeddedQueue, type JobQueue } from '../../src/queue/index.ts';
import type { Db } from '../../src/store/index.ts';
import { redisInfo } from '../harness/index.ts';
import { buildAutomations, DAY, sampleOrder } from './setup.ts';

/** Polls until `check` holds; a generous deadline only turns a hang into a readable failure. */
async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function stepStatus(db: Db, suffix: string): string | undefined {
  const order = getOrderByExternalId(db, sampleOrder.id);
  return stepsForOrder(db, order?.id ?? 0).find((s) => s.step_key.endsWith(suffix))?.status;
}

const open: JobQueue[] = [];
afterEach(async () => {
  for (const q of open.splice(0)) await q.close(2000);
});

describe('order life on the embedded queue (ManualClock)', () => {
  it('created -> confirmation -> reminder -> paid -> no second reminder -> delivered -> review request', async () => {
    let queue: JobQueue | undefined;
    const { db, clock, automations, intake, sent } = buildAutomations({
      queue: (c: ManualClock, d: Db) => {
        queue = createEmbeddedQueue({ db: d, clock: c, logger: silentLogger() });
        open.push(queue);
        return queue;
      },
    });
    const q = queue as JobQueue;
    const manual = clock;
    const idle = async () => {
      const c = await q.counts('automations');
      return c.waiting === 0 && c.active === 0;
    };
    await automations.start();
    await intake.submitOrder(sampleOrder);
    await until(() => stepStatus(db, 'confirmation') === 'sent', 'the confirmation');
    expect(sent.map((s) => s.template)).toEqual(['order-confirmation']);

    manual.advance(3 * DAY);
    await until(() => stepStatus(db, 'reminder-1') === 'sent', 'the first reminder');
    await until(() => stepStatus(db, 'reminder-2') === 'scheduled', 'the second reminder to be scheduled');

    const paid = await intake.submitEvent(sampleOrder.id, { event_id: 'pay-1', type: 'paid' });
    expect(paid.applied).toBe(true);
    const replay = await intake.submitEvent(sampleOrder.id, { event_id: 'pay-1', type: 'paid' });
    expect(replay.applied).toBe(false);
    expect(stepStatus(db, 'reminder-2')).toBe('cancelled');
    manual.advance(5 * DAY);
    await until(idle, 'the queue to be idle');

    await intake.submitEvent(sampleOrder.id, { event_id: 'ship-1', type: 'shipped' });
    await intake.submitEvent(sampleOrder.id, { event_id: 'del-1', type: 'delivered' });
    manual.advance(7 * DAY);
    await until(() => stepStatus(db, 'review-1') === 'sent', 'the review request');
    expect(sent.map((s) => s.template)).toEqual(['order-confirmation', 'payment-reminder', 'review-request']);
    expect(sent.map((s) => s.idempotencyKey)).toEqual([
      'order-1-confirmation',
      'order-1-reminder-1',
      'order-1-review-1',
    ]);
  });
});

describe.skipIf(!redisInfo())('order life on BullMQ (real redis-server)', () => {
  it('runs the same life with real delays, cancelling the second reminder when paid', async () => {
    const redis = redisInfo();
    // BullMQ delays run on real time: steps a few hundred milliseconds apart, quiet hours off.
    const ms = (n: number) => n / DAY;
    let queue: JobQueue | undefined;
    const { db, automations, intake, sent } = buildAutomations({
      clock: systemClock,
      queue: (c: Clock, d: Db) => {
        queue = createBullmqQueue({
          redisUrl: redis?.url ?? '',
          prefix: `t${randomId(6)}`,
          logger: silentLogger(),
        });
        open.push(queue);
        return queue;
      },
      config: {
        quiet_hours: null,
        payment_reminder: { after_days: ms(1500) },
        review_request: { after_days: ms(300) },
      },
    });
    await automations.start();
    await intake.submitOrder(sampleOrder);
    await until(() => stepStatus(db, 'reminder-1') === 'sent', 'the first reminder');
    await until(() => stepStatus(db, 'reminder-2') !== undefined, 'the second reminder to be scheduled');
    await intake.submitEvent(sampleOrder.id, { event_id: 'pay-1', type: 'paid' });
    await intake.submitEvent(sampleOrder.id, { event_id: 'pay-1', type: 'paid' });
    await intake.submitEvent(sampleOrder.id, { event_id: 'ship-1', type: 'shipped' });
    await intake.submitEvent(sampleOrder.id, { event_id: 'del-1', type: 'delivered' });
    await until(() => stepStatus(db, 'review-1') === 'sent', 'the review request');
    expect(['cancelled', 'skipped']).toContain(stepStatus(db, 'reminder-2'));
    expect(sent.map((s) => s.template)).toEqual(['order-confirmation', 'payment-reminder', 'review-request']);
  });
});
