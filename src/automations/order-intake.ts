import {
  applyOrderEvent,
  type OrderEventResult,
  parseOrderEventInput,
  parseOrderInput,
  type UpsertOrderResult,
  upsertOrder,
} from '../customers/index.ts';
import type { Clock } from '../lib/index.ts';
import type { Db } from '../store/index.ts';
import type { Automations } from './engine.ts';

/**
 * The single way orders enter mailroom (API, CSV import): validate, store, then let the
 * automations react. Storing commits before scheduling, so a crash in between loses at most a
 * schedule, which the next replay of the same order or event re-creates (steps are keyed).
 */
export interface OrderIntake {
  submitOrder(raw: unknown): Promise<UpsertOrderResult>;
  submitEvent(externalId: string, raw: unknown): Promise<OrderEventResult>;
}

export interface OrderIntakeDeps {
  db: Db;
  clock: Clock;
  /** null: store only (tools, tests without a queue). */
  automations: Automations | null;
}

export function createOrderIntake(deps: OrderIntakeDeps): OrderIntake {
  return {
    async submitOrder(raw) {
      const input = parseOrderInput(raw);
      const res = upsertOrder(deps.db, input, deps.clock.now());
      if (deps.automations && res.order.status === 'pending') await deps.automations.orderCreated(res.order);
      return res;
    },
    async submitEvent(externalId, raw) {
      const ev = parseOrderEventInput(raw);
      const res = applyOrderEvent(deps.db, externalId, ev, deps.clock.now());
      if (deps.automations && res.applied) await deps.automations.orderEvent(res.order, res.type);
      return res;
    },
  };
}
