import {
  type AutomationsConfigInput,
  automationsConfig,
  createAutomations,
  createOrderIntake,
  type SendTemplateInput,
} from '../../src/automations/index.ts';
import { type Clock, ManualClock, silentLogger } from '../../src/lib/index.ts';
import type { JobQueue } from '../../src/queue/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';

export const DAY = 86_400_000;

export const sampleOrder = {
  id: 'SO-2001',
  email: 'ann@shop-customer.example',
  name: 'Ann',
  locale: 'en',
  time_zone: 'Asia/Shanghai',
  currency: 'CNY',
  amount_cents: 25600,
  items: [{ sku: 'TEA-2', name: 'Oolong', quantity: 4, unit_cents: 6400 }],
  payment_instructions: 'Bank transfer, reference SO-2001',
  shipping_terms: 'Ships within 2 days of payment',
};

/** A recording sendTemplate that, like the outbox, sends once per idempotency key. */
export function recordingSend() {
  const sent: SendTemplateInput[] = [];
  const keys = new Set<string>();
  const send = async (input: SendTemplateInput) => {
    if (keys.has(input.idempotencyKey)) return;
    keys.add(input.idempotencyKey);
    sent.push(input);
  };
  return { sent, send };
}

export function buildAutomations<C extends Clock = ManualClock>(opts: {
  queue: (clock: C, db: Db) => JobQueue;
  config?: AutomationsConfigInput;
  db?: Db;
  clock?: C;
}) {
  const db = opts.db ?? openDatabase(':memory:');
  migrate(db);
  // Monday 2026-01-05 09:00 UTC = 17:00 in Shanghai: outside the default quiet hours.
  const clock = opts.clock ?? (new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0)) as unknown as C);
  const queue = opts.queue(clock, db);
  const rec = recordingSend();
  const automations = createAutomations({
    db,
    queue,
    clock,
    logger: silentLogger(),
    config: automationsConfig(opts.config ?? {}),
    sendTemplate: rec.send,
    defaultTimeZone: 'UTC',
  });
  const intake = createOrderIntake({ db, clock, automations });
  return { db, clock, queue, automations, intake, sent: rec.sent };
}
