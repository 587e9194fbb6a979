import { customerTimeline, type TimelineKind } from '../../customers/index.ts';
import type { Db } from '../../store/index.ts';

export interface CustomerPanel {
  orders: Array<{ id: string; status: string; amount: string; at: number }>;
  timeline: Array<{ at: number; kind: TimelineKind; summary: string; conversationId: number | null }>;
}

/**
 * The customer sidebar beyond the contact card: recent orders and the customer's timeline (mail in
 * and out, orders and their events, mail mailroom sent, list sign-ups), newest first. Entries that
 * belong to a conversation in a department the user may not see are left out, as the inbox does.
 */
export function loadCustomerPanel(
  db: Db,
  customerId: number | null,
  departments: readonly string[] | null,
  limit = 20,
): CustomerPanel | null {
  if (customerId === null) return null;
  const orders = (
    db
      .prepare(
        `SELECT external_id, status, currency, amount_cents, created_at FROM orders
         WHERE customer_id = ? ORDER BY created_at DESC LIMIT 10`,
      )
      .all(customerId) as Array<{
      external_id: string;
      status: string;
      currency: string;
      amount_cents: number;
      created_at: number;
    }>
  ).map((o) => ({
    id: o.external_id,
    status: o.status,
    amount: `${(o.amount_cents / 100).toFixed(2)} ${o.currency}`,
    at: o.created_at,
  }));

  const entries = customerTimeline(db, customerId);
  let hidden = new Set<number>();
  if (departments) {
    const ids = [...new Set(entries.map((e) => e.ref.conversationId).filter((c) => typeof c === 'number'))];
    const visible = new Set(
      (
        db
          .prepare(
            `SELECT id FROM conversations WHERE id IN (SELECT value FROM json_each(?))
             AND department IN (SELECT value FROM json_each(?))`,
          )
          .all(JSON.stringify(ids), JSON.stringify(departments)) as Array<{ id: number }>
      ).map((r) => r.id),
    );
    hidden = new Set(ids.filter((id) => !visible.has(id)));
  }
  const timeline = entries
    .filter((e) => !(typeof e.ref.conversationId === 'number' && hidden.has(e.ref.conversationId)))
    .slice(-limit)
    .reverse()
    .map((e) => ({
      at: e.at,
      kind: e.kind,
      summary: e.summary,
      conversationId: typeof e.ref.conversationId === 'number' ? e.ref.conversationId : null,
    }));
  return { orders, timeline };
}
