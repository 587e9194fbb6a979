import { describe, expect, it } from 'vitest';
import {
  addNote,
  addTag,
  applyOrderEvent,
  customerTimeline,
  getCustomer,
  linkedAliases,
  mergeCustomers,
  parseOrderInput,
  recordContact,
  upsertOrder,
} from '../../src/customers/index.ts';
import { isMailroomError } from '../../src/lib/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';

const T0 = Date.UTC(2026, 0, 5, 9);

function conversationWithMessage(db: Db, customerId: number, at: number, subject: string) {
  const c = db
    .prepare(
      `INSERT INTO conversations (customer_id, subject, department, created_at, last_message_at) VALUES (?, ?, 'sales', ?, ?)`,
    )
    .run(customerId, subject, at, at);
  db.prepare(
    `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, subject, received_at)
     VALUES (?, 'in', ?, ?, ?, ?)`,
  ).run(c.lastInsertRowid, `${subject}@t`, `${subject}-k`, subject, at);
}

function setup() {
  const db = openDatabase(':memory:');
  migrate(db);
  const work = recordContact(db, { email: 'ann+shop@example.com', name: 'Ann W.' }, T0) ?? assertNever();
  const home = recordContact(
    db,
    { email: 'Ann@Example.com', locale: 'zh-CN', timeZone: 'Asia/Shanghai' },
    T0 + 1000,
  );
  const main = home ?? assertNever();
  conversationWithMessage(db, work.id, T0 + 2000, 'price question');
  conversationWithMessage(db, main.id, T0 + 5000, 'where is my parcel');
  upsertOrder(
    db,
    parseOrderInput({ id: 'W-1', email: work.email, currency: 'CNY', amount_cents: 9900 }),
    T0 + 3000,
  );
  applyOrderEvent(db, 'W-1', { event_id: 'w1-paid', type: 'paid', payload: {} }, T0 + 4000);
  addTag(db, work.id, 'wholesale');
  addNote(db, work.id, 'prefers phone calls', T0 + 4500, 'mei');
  return { db, work, main };
}

function assertNever(): never {
  throw new Error('expected a customer');
}

describe('customer merge and timeline', () => {
  it('links plus-tag aliases through the base address', () => {
    const { db, main } = setup();
    expect(linkedAliases(db, main.id).map((c) => c.email)).toEqual([
      'ann+shop@example.com',
      'ann@example.com',
    ]);
  });

  it('merges two records without losing messages, orders, tags or notes', () => {
    const { db, work, main } = setup();
    const res = mergeCustomers(db, work.id, main.id, T0 + 10_000, 'mei');
    expect(res.moved).toMatchObject({ conversations: 1, orders: 1 });
    expect(res.target).toMatchObject({
      name: 'Ann W.',
      locale: 'zh-CN',
      order_count: 1,
      total_cents: 9900,
      first_contact_at: T0,
      tags: '["wholesale"]',
    });
    expect(res.target.notes).toContain('prefers phone calls');
    expect(res.target.notes).toContain('merged ann+shop@example.com');
    expect(getCustomer(db, work.id)).toMatchObject({ merged_into: main.id, order_count: 0 });
    // Mail from the merged address lands on the surviving record.
    expect(recordContact(db, { email: 'ann+shop@example.com' }, T0 + 20_000)?.id).toBe(main.id);

    const timeline = customerTimeline(db, main.id).map((e) => [e.kind, e.summary]);
    expect(timeline).toEqual([
      ['message_in', 'price question'],
      ['order', 'order W-1: 99.00 CNY'],
      ['order_event', 'order W-1 paid'],
      ['message_in', 'where is my parcel'],
    ]);
  });

  it('refuses to merge a record into itself or into a merged record', () => {
    const { db, work, main } = setup();
    expect(() => mergeCustomers(db, main.id, main.id, T0)).toThrow(/itself/);
    mergeCustomers(db, work.id, main.id, T0);
    try {
      mergeCustomers(db, main.id, work.id, T0);
      throw new Error('expected a conflict');
    } catch (e) {
      expect(isMailroomError(e, 'CONFLICT')).toBe(true);
    }
  });

  it('shows list memberships and sent mail in the timeline when those tables exist', () => {
    const { db, main } = setup();
    db.prepare(
      "INSERT INTO lists (slug, name, consent_wording, created_at) VALUES ('news', 'News', 'yes please', ?)",
    ).run(T0);
    db.prepare(
      'INSERT INTO subscribers (email, customer_id, created_at, updated_at) VALUES (?, ?, ?, ?)',
    ).run(main.email, main.id, T0 + 6000, T0 + 6000);
    db.prepare(
      "INSERT INTO list_memberships (list_id, subscriber_id, status, created_at, requested_at, confirmed_at) VALUES (1, 1, 'confirmed', ?, ?, ?)",
    ).run(T0 + 6000, T0 + 6000, T0 + 7000);
    const kinds = customerTimeline(db, main.id)
      .filter((e) => e.kind === 'list')
      .map((e) => e.summary);
    expect(kinds).toEqual(['asked to join list "News"', 'confirmed list "News"']);
  });

  it('shows the mails sent to the customer, by subject and status', () => {
    const { db, main } = setup();
    db.prepare(
      `INSERT INTO outbox (kind, customer_id, to_addr, from_addr, envelope_from, subject, message_id, raw,
                           status, idempotency_key, created_at, sent_at, updated_at)
       VALUES ('order-confirmation', ?, 'ann@example.com', 'shop@example.com', 'shop@example.com',
               'Your order SO-1', 'm1@example.com', x'00', 'sent', 'order-SO-1-confirmation', ?, ?, ?)`,
    ).run(main.id, T0 + 5500, T0 + 5600, T0 + 5600);
    const mails = customerTimeline(db, main.id).filter((e) => e.kind === 'mail_sent');
    expect(mails).toEqual([
      {
        at: T0 + 5600,
        kind: 'mail_sent',
        summary: 'Your order SO-1 (sent)',
        ref: { outboxId: 1, conversationId: null },
      },
    ]);
  });
});
