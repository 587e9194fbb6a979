import { ErrorCodes, MailroomError } from '../lib/index.ts';
import { type Db, inTransaction } from '../store/index.ts';
import { recordContact } from './contacts.ts';
import type { OrderEventInput, OrderEventType, OrderInput, OrderItem } from './order-input.ts';

export type OrderStatus = 'pending' | 'paid' | 'shipped' | 'delivered' | 'cancelled' | 'refunded';

export interface OrderRow {
  id: number;
  external_id: string;
  /** null once the buyer's address was erased (the order stays for bookkeeping). */
  customer_id: number | null;
  status: OrderStatus;
  currency: string;
  amount_cents: number;
  items: string;
  payment_instructions: string | null;
  shipping_terms: string | null;
  payment_due_at: number | null;
  locale: string | null;
  created_at: number;
  updated_at: number;
  paid_at: number | null;
  shipped_at: number | null;
  delivered_at: number | null;
  cancelled_at: number | null;
  refunded_at: number | null;
  /** When the buyer was erased: the order's personal fields are gone and it links to no customer. */
  erased_at: number | null;
}

export interface UpsertOrderResult {
  order: OrderRow;
  created: boolean;
}

export interface OrderEventResult {
  order: OrderRow;
  /** false when this event id was seen before: nothing changed. */
  applied: boolean;
  type: OrderEventType;
}

/** From which states an event may move an order; anything else is a CONFLICT the shop should see. */
const ALLOWED_FROM: Record<OrderEventType, OrderStatus[]> = {
  paid: ['pending'],
  shipped: ['pending', 'paid'],
  delivered: ['paid', 'shipped'],
  cancelled: ['pending', 'paid'],
  refunded: ['paid', 'shipped', 'delivered', 'cancelled'],
};

const STAMP: Record<OrderEventType, keyof OrderRow> = {
  paid: 'paid_at',
  shipped: 'shipped_at',
  delivered: 'delivered_at',
  cancelled: 'cancelled_at',
  refunded: 'refunded_at',
};

export function orderItems(order: OrderRow): OrderItem[] {
  return JSON.parse(order.items) as OrderItem[];
}

export function getOrder(db: Db, id: number): OrderRow | undefined {
  return db.prepare('SELECT * FROM orders WHERE id = ?').get(id) as OrderRow | undefined;
}

export function getOrderByExternalId(db: Db, externalId: string): OrderRow | undefined {
  return db.prepare('SELECT * FROM orders WHERE external_id = ?').get(externalId) as OrderRow | undefined;
}

/**
 * Order count (every order not cancelled) and total spent (paid orders not cancelled or refunded),
 * recomputed from the orders so a replayed or reordered event can never skew them.
 */
export function refreshCustomerStats(db: Db, customerId: number | null): void {
  if (customerId === null) return;
  db.prepare(
    `UPDATE customers SET
       order_count = (SELECT count(*) FROM orders WHERE customer_id = @id AND status != 'cancelled'),
       total_cents = (SELECT coalesce(sum(amount_cents), 0) FROM orders
                      WHERE customer_id = @id AND paid_at IS NOT NULL AND status NOT IN ('cancelled', 'refunded'))
     WHERE id = @id`,
  ).run({ id: customerId });
}

/** Creates the order (and its customer on first contact) or updates what the shop may change. */
export function upsertOrder(db: Db, input: OrderInput, now: number): UpsertOrderResult {
  return inTransaction(db, () => {
    const erased = getOrderByExternalId(db, input.id);
    if (erased && erased.erased_at !== null) {
      // The buyer was erased: the shop may still correct the order's bookkeeping fields, but the
      // order is not linked to a person again and no customer record is made from it.
      db.prepare(
        `UPDATE orders SET currency = ?, amount_cents = ?, items = ?, payment_due_at = ?, updated_at = ?
         WHERE id = ?`,
      ).run(
        input.currency,
        input.amount_cents,
        JSON.stringify(input.items),
        input.payment_due_at ?? null,
        now,
        erased.id,
      );
      return { order: getOrder(db, erased.id) as OrderRow, created: false };
    }
    const customer = recordContact(
      db,
      {
        email: input.email,
        name: input.name ?? null,
        locale: input.locale ?? null,
        timeZone: input.time_zone ?? null,
      },
      now,
    );
    if (!customer) {
      throw new MailroomError(
        ErrorCodes.VALIDATION,
        `order ${input.id}: "${input.email}" is not an email address`,
        {
          issues: [{ path: 'email', message: 'expected an email address' }],
        },
      );
    }
    const existing = getOrderByExternalId(db, input.id);
    const fields = {
      customer_id: customer.id,
      currency: input.currency,
      amount_cents: input.amount_cents,
      items: JSON.stringify(input.items),
      payment_instructions: input.payment_instructions ?? null,
      shipping_terms: input.shipping_terms ?? null,
      payment_due_at: input.payment_due_at ?? null,
      locale: input.locale ?? null,
    };
    if (existing) {
      db.prepare(
        `UPDATE orders SET customer_id = @customer_id, currency = @currency, amount_cents = @amount_cents,
           items = @items, payment_instructions = @payment_instructions, shipping_terms = @shipping_terms,
           payment_due_at = @payment_due_at, locale = coalesce(@locale, locale), updated_at = @now
         WHERE id = @id`,
      ).run({ ...fields, now, id: existing.id });
      refreshCustomerStats(db, customer.id);
      if (existing.customer_id !== customer.id) refreshCustomerStats(db, existing.customer_id);
      return { order: getOrder(db, existing.id) as OrderRow, created: false };
    }
    const res = db
      .prepare(
        `INSERT INTO orders (external_id, customer_id, currency, amount_cents, items, payment_instructions,
           shipping_terms, payment_due_at, locale, created_at, updated_at)
         VALUES (@external_id, @customer_id, @currency, @amount_cents, @items, @payment_instructions,
           @shipping_terms, @payment_due_at, @locale, @created_at, @now)`,
      )
      .run({ ...fields, external_id: input.id, created_at: input.created_at ?? now, now });
    refreshCustomerStats(db, customer.id);
    return { order: getOrder(db, Number(res.lastInsertRowid)) as OrderRow, created: true };
  });
}

/**
 * Applies a shop event once per event id. A replay of a known event id for the same order returns
 * applied: false and changes nothing; the same id for another order is a CONFLICT.
 */
export function applyOrderEvent(
  db: Db,
  externalId: string,
  ev: OrderEventInput,
  now: number,
): OrderEventResult {
  return inTransaction(db, () => {
    const order = getOrderByExternalId(db, externalId);
    if (!order) throw new MailroomError(ErrorCodes.NOT_FOUND, `no order "${externalId}": create it first`);
    const seen = db.prepare('SELECT order_id, type FROM order_events WHERE event_id = ?').get(ev.event_id) as
      | { order_id: number; type: string }
      | undefined;
    if (seen) {
      if (seen.order_id !== order.id || seen.type !== ev.type) {
        throw new MailroomError(
          ErrorCodes.CONFLICT,
          `event id "${ev.event_id}" was already used for another event; event ids must be unique`,
        );
      }
      return { order, applied: false, type: ev.type };
    }
    if (!ALLOWED_FROM[ev.type].includes(order.status)) {
      throw new MailroomError(
        ErrorCodes.CONFLICT,
        `order ${externalId} is ${order.status}: a "${ev.type}" event is only accepted when it is ${ALLOWED_FROM[ev.type].join(' or ')}`,
      );
    }
    const at = ev.at ?? now;
    db.prepare(
      'INSERT INTO order_events (event_id, order_id, type, at, received_at, payload) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(ev.event_id, order.id, ev.type, at, now, JSON.stringify(ev.payload));
    // Column names come from the fixed STAMP table above, never from input.
    db.prepare(`UPDATE orders SET status = ?, ${STAMP[ev.type]} = ?, updated_at = ? WHERE id = ?`).run(
      ev.type,
      at,
      now,
      order.id,
    );
    refreshCustomerStats(db, order.customer_id);
    return { order: getOrder(db, order.id) as OrderRow, applied: true, type: ev.type };
  });
}
