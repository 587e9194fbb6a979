import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOrderInput, recordContact, upsertOrder } from '../../src/customers/index.ts';
import { createBlobStore, createIngestPipeline } from '../../src/ingest/index.ts';
import { ManualClock, silentLogger } from '../../src/lib/index.ts';
import { createList, type ListsDeps, subscribe } from '../../src/lists/index.ts';
import { type Db, listMigrations, migrate, openDatabase } from '../../src/store/index.ts';
import { tempDir } from '../harness/index.ts';

function setup() {
  const db = openDatabase(':memory:');
  migrate(db);
  const clock = new ManualClock(Date.UTC(2026, 0, 5));
  const lists: ListsDeps = {
    db,
    clock,
    logger: silentLogger(),
    secret: 'test-secret-0123456789abcdef',
    publicUrl: 'https://shop.example',
    mailDomain: 'shop.example',
    from: 'news@shop.example',
    send: async () => {},
  };
  createList(db, { slug: 'news', name: 'News', consentWording: 'Send me news', optin: 'single' }, 1);
  return { db, clock, lists };
}

const link = (db: Db, email: string) =>
  db
    .prepare(
      'SELECT s.customer_id AS subscriberLink, c.id AS customer FROM subscribers s LEFT JOIN customers c ON c.email = s.email WHERE s.email = ?',
    )
    .get(email) as { subscriberLink: number | null; customer: number | null };

describe('subscribers and customer records with the same address', () => {
  it('links a subscriber to a customer record that already exists', async () => {
    const { db, clock, lists } = setup();
    recordContact(db, { email: 'Li.Wei@Example.com', name: 'Li Wei' }, clock.now());
    await subscribe(lists, { slug: 'news', email: 'li.wei@EXAMPLE.com', source: 'form' });
    const l = link(db, 'li.wei@example.com');
    expect(l.customer).not.toBeNull();
    expect(l.subscriberLink).toBe(l.customer);
  });

  it('links an existing subscriber when the customer record comes later, from a first inbound mail', async () => {
    const { db, clock, lists } = setup();
    await subscribe(lists, { slug: 'news', email: 'Wang.Fang@Example.com', source: 'form' });
    expect(link(db, 'wang.fang@example.com')).toEqual({ subscriberLink: null, customer: null });
    const pipeline = createIngestPipeline({
      db,
      blobs: createBlobStore(path.join(tempDir(), 'blobs')),
      clock,
      logger: silentLogger(),
      config: {
        mail: {
          domain: 'shop.example',
          from: 'support@shop.example',
          default_department: 'sales',
          own_addresses: ['support@shop.example'],
        },
        imap: { max_message_bytes: 1_000_000 },
      },
    });
    await pipeline.ingestRaw(
      Buffer.from(
        'From: Wang Fang <WANG.FANG@example.COM>\r\nTo: support@shop.example\r\nSubject: 价格\r\nMessage-ID: <w1@example.com>\r\n\r\n请问价格？\r\n',
      ),
      { kind: 'import', file: 'test.eml' },
    );
    const l = link(db, 'wang.fang@example.com');
    expect(l.customer).not.toBeNull();
    expect(l.subscriberLink).toBe(l.customer);
  });

  it('links an existing subscriber when the customer record comes later, from an order', async () => {
    const { db, clock, lists } = setup();
    await subscribe(lists, { slug: 'news', email: 'chen@example.com', source: 'form' });
    await subscribe(lists, { slug: 'news', email: 'other@example.com', source: 'form' });
    upsertOrder(
      db,
      parseOrderInput({ id: 'A-1', email: 'Chen@Example.com', currency: 'CNY', amount_cents: 100 }),
      clock.now(),
    );
    const l = link(db, 'chen@example.com');
    expect(l.subscriberLink).toBe(l.customer);
    expect(l.customer).not.toBeNull();
    // Only the same address: another subscriber stays unlinked.
    expect(link(db, 'other@example.com').subscriberLink).toBeNull();
  });

  it('the upgrade links subscribers whose customer record was created after them, and keeps every order', () => {
    const db = openDatabase(':memory:');
    const all = listMigrations();
    const before = all.findIndex((m) => m.name === 'data_rights_list_locales');
    expect(before).toBeGreaterThan(0);
    migrate(db, all.slice(0, before));
    db.exec(`
      INSERT INTO subscribers (id, email, created_at, updated_at) VALUES (1, 'late@example.com', 1, 1);
      INSERT INTO customers (id, email, base_email, first_contact_at, last_contact_at, created_at)
        VALUES (5, 'late@example.com', 'late@example.com', 2, 2, 2);
      INSERT INTO conversations (id, customer_id, department, created_at, last_message_at) VALUES (3, 5, 'sales', 2, 2);
      INSERT INTO orders (id, external_id, customer_id, currency, amount_cents, created_at, updated_at)
        VALUES (9, 'B-9', 5, 'EUR', 990, 3, 3);
      INSERT INTO order_events (event_id, order_id, type, at, received_at, payload) VALUES ('e-1', 9, 'paid', 4, 4, '{"x":1}');
      INSERT INTO tasks (dedupe_key, kind, title, customer_id, conversation_id, order_id, created_at)
        VALUES ('t-1', 'follow_up', 'Call', 5, 3, 9, 5);
      INSERT INTO automation_steps (step_key, step, order_id, customer_id, due_at, updated_at)
        VALUES ('order-9-confirmation', 'confirmation', 9, 5, 3, 3);
    `);
    migrate(db);
    expect(db.prepare('SELECT customer_id FROM subscribers WHERE id = 1').get()).toEqual({ customer_id: 5 });
    expect(db.prepare('SELECT id, customer_id, amount_cents, erased_at FROM orders').all()).toEqual([
      { id: 9, customer_id: 5, amount_cents: 990, erased_at: null },
    ]);
    expect(db.prepare('SELECT order_id, payload FROM order_events').all()).toEqual([
      { order_id: 9, payload: '{"x":1}' },
    ]);
    expect(db.prepare('SELECT order_id, conversation_id FROM tasks').all()).toEqual([
      { order_id: 9, conversation_id: 3 },
    ]);
    expect(db.prepare('SELECT step_key, order_id FROM automation_steps').all()).toEqual([
      { step_key: 'order-9-confirmation', order_id: 9 },
    ]);
    expect(db.pragma('foreign_key_check')).toEqual([]);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    // Foreign keys still hold on the rebuilt tables.
    expect(() => db.prepare('DELETE FROM orders WHERE id = 9').run()).toThrow(/FOREIGN KEY/);
    db.close();
  });
});
