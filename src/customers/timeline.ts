import type { Db } from '../store/index.ts';

export type TimelineKind = 'message_in' | 'message_out' | 'order' | 'order_event' | 'mail_sent' | 'list';

export interface TimelineEntry {
  at: number;
  kind: TimelineKind;
  summary: string;
  ref: Record<string, string | number | null>;
}

/** The record and every record merged into it (their leftovers count as its history). */
function recordIds(db: Db, id: number): number[] {
  const ids = new Set([id]);
  let frontier = [id];
  while (frontier.length > 0 && ids.size < 1000) {
    const marks = frontier.map(() => '?').join(', ');
    const rows = db
      .prepare(`SELECT id FROM customers WHERE merged_into IN (${marks})`)
      .all(...frontier) as Array<{
      id: number;
    }>;
    frontier = rows.map((r) => r.id).filter((x) => !ids.has(x));
    for (const x of frontier) ids.add(x);
  }
  return [...ids];
}

function inList(n: number): string {
  return Array.from({ length: n }, () => '?').join(', ');
}

/** Messages, orders and their events, mails sent and list memberships of a customer, oldest first. */
export function customerTimeline(db: Db, customerId: number): TimelineEntry[] {
  const ids = recordIds(db, customerId);
  const idList = inList(ids.length);
  const emails = (
    db.prepare(`SELECT email FROM customers WHERE id IN (${idList})`).all(...ids) as Array<{ email: string }>
  ).map((r) => r.email);
  const out: TimelineEntry[] = [];

  const msgs = db
    .prepare(
      `SELECT m.id, m.direction, m.subject, m.received_at, m.conversation_id FROM messages m
       JOIN conversations c ON c.id = m.conversation_id WHERE c.customer_id IN (${idList})`,
    )
    .all(...ids) as Array<{
    id: number;
    direction: 'in' | 'out';
    subject: string;
    received_at: number;
    conversation_id: number;
  }>;
  for (const m of msgs) {
    out.push({
      at: m.received_at,
      kind: m.direction === 'in' ? 'message_in' : 'message_out',
      summary: m.subject,
      ref: { messageId: m.id, conversationId: m.conversation_id },
    });
  }

  const orders = db
    .prepare(
      `SELECT id, external_id, status, currency, amount_cents, created_at FROM orders WHERE customer_id IN (${idList})`,
    )
    .all(...ids) as Array<{
    id: number;
    external_id: string;
    status: string;
    currency: string;
    amount_cents: number;
    created_at: number;
  }>;
  for (const o of orders) {
    out.push({
      at: o.created_at,
      kind: 'order',
      summary: `order ${o.external_id}: ${(o.amount_cents / 100).toFixed(2)} ${o.currency}`,
      ref: { orderId: o.id, externalId: o.external_id },
    });
  }
  const events = db
    .prepare(
      `SELECT e.type, e.at, e.event_id, o.external_id, o.id AS order_id FROM order_events e
       JOIN orders o ON o.id = e.order_id WHERE o.customer_id IN (${idList})`,
    )
    .all(...ids) as Array<{
    type: string;
    at: number;
    event_id: string;
    external_id: string;
    order_id: number;
  }>;
  for (const e of events) {
    out.push({
      at: e.at,
      kind: 'order_event',
      summary: `order ${e.external_id} ${e.type}`,
      ref: { orderId: e.order_id, eventId: e.event_id },
    });
  }

  out.push(...outboxEntries(db, ids, emails));
  out.push(...listEntries(db, ids, emails));
  return out.sort((a, b) => a.at - b.at);
}

/** Mails mailroom sent: linked to the record, or addressed to one of its addresses before it was. */
function outboxEntries(db: Db, ids: number[], emails: string[]): TimelineEntry[] {
  const rows = db
    .prepare(
      `SELECT id, coalesce(sent_at, created_at) AS at, subject, status, conversation_id FROM outbox
       WHERE customer_id IN (${inList(ids.length)}) OR to_addr IN (${inList(emails.length || 1)})`,
    )
    .all(...ids, ...(emails.length ? emails : [''])) as Array<{
    id: number;
    at: number;
    subject: string;
    status: string;
    conversation_id: number | null;
  }>;
  return rows.map((r) => ({
    at: r.at,
    kind: 'mail_sent' as const,
    summary: `${r.subject} (${r.status})`,
    ref: { outboxId: r.id, conversationId: r.conversation_id },
  }));
}

function listEntries(db: Db, ids: number[], emails: string[]): TimelineEntry[] {
  const rows = db
    .prepare(
      `SELECT l.name, lm.created_at, lm.confirmed_at, lm.unsubscribed_at, l.id AS list_id
       FROM list_memberships lm JOIN subscribers s ON s.id = lm.subscriber_id JOIN lists l ON l.id = lm.list_id
       WHERE s.customer_id IN (${inList(ids.length)}) OR s.email IN (${inList(emails.length || 1)})`,
    )
    .all(...ids, ...(emails.length ? emails : [''])) as Array<{
    name: string;
    created_at: number;
    confirmed_at: number | null;
    unsubscribed_at: number | null;
    list_id: number;
  }>;
  const out: TimelineEntry[] = [];
  for (const r of rows) {
    const ref = { listId: r.list_id };
    out.push({ at: r.created_at, kind: 'list', summary: `asked to join list "${r.name}"`, ref });
    if (r.confirmed_at)
      out.push({ at: r.confirmed_at, kind: 'list', summary: `confirmed list "${r.name}"`, ref });
    if (r.unsubscribed_at)
      out.push({ at: r.unsubscribed_at, kind: 'list', summary: `left list "${r.name}"`, ref });
  }
  return out;
}
