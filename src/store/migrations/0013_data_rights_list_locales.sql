-- Data rights, subscriber links and list languages.
-- Times are integer milliseconds since the Unix epoch (UTC).

-- 1. Orders of an erased buyer are kept for bookkeeping, pseudonymised and unlinked from any
-- customer record: orders.customer_id becomes nullable, and erased_at marks such orders.
-- SQLite cannot drop a NOT NULL constraint in place, and the migration runs inside a transaction
-- with foreign keys on (PRAGMA foreign_keys cannot be switched off there), so the tables that
-- point at orders are copied aside and rebuilt with it, unchanged: dropping a child table first
-- means dropping orders leaves no dangling reference, and re-inserting parents before children
-- keeps every foreign key satisfied at every step.
CREATE TABLE m13_orders AS SELECT * FROM orders;
CREATE TABLE m13_order_events AS SELECT * FROM order_events;
CREATE TABLE m13_tasks AS SELECT * FROM tasks;
CREATE TABLE m13_automation_steps AS SELECT * FROM automation_steps;
DROP TABLE order_events;
DROP TABLE tasks;
DROP TABLE automation_steps;
DROP TABLE orders;

CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  external_id TEXT NOT NULL UNIQUE,      -- the shop's order number
  customer_id INTEGER REFERENCES customers(id),  -- NULL once the buyer's address was erased
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
  currency TEXT NOT NULL,
  amount_cents INTEGER NOT NULL,
  items TEXT NOT NULL DEFAULT '[]',      -- JSON array of { sku, name, quantity, unit_cents }
  payment_instructions TEXT,
  shipping_terms TEXT,
  payment_due_at INTEGER,
  locale TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  paid_at INTEGER,
  shipped_at INTEGER,
  delivered_at INTEGER,
  cancelled_at INTEGER,
  refunded_at INTEGER,
  erased_at INTEGER                      -- the buyer was erased: kept for bookkeeping, no personal data
);
INSERT INTO orders (id, external_id, customer_id, status, currency, amount_cents, items, payment_instructions,
  shipping_terms, payment_due_at, locale, created_at, updated_at, paid_at, shipped_at, delivered_at,
  cancelled_at, refunded_at)
SELECT id, external_id, customer_id, status, currency, amount_cents, items, payment_instructions,
  shipping_terms, payment_due_at, locale, created_at, updated_at, paid_at, shipped_at, delivered_at,
  cancelled_at, refunded_at
FROM m13_orders;
CREATE INDEX orders_customer ON orders(customer_id, created_at);
CREATE INDEX orders_status ON orders(status);

CREATE TABLE order_events (
  id INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  type TEXT NOT NULL,
  at INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  payload TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO order_events (id, event_id, order_id, type, at, received_at, payload)
SELECT id, event_id, order_id, type, at, received_at, payload FROM m13_order_events;
CREATE INDEX order_events_order ON order_events(order_id, at);

CREATE TABLE tasks (
  id INTEGER PRIMARY KEY,
  dedupe_key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  title TEXT NOT NULL,
  customer_id INTEGER REFERENCES customers(id),
  conversation_id INTEGER REFERENCES conversations(id),
  order_id INTEGER REFERENCES orders(id),
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
  created_at INTEGER NOT NULL,
  done_at INTEGER
);
INSERT INTO tasks (id, dedupe_key, kind, title, customer_id, conversation_id, order_id, status, created_at, done_at)
SELECT id, dedupe_key, kind, title, customer_id, conversation_id, order_id, status, created_at, done_at
FROM m13_tasks;
CREATE INDEX tasks_status ON tasks(status, created_at);

CREATE TABLE automation_steps (
  step_key TEXT PRIMARY KEY,
  step TEXT NOT NULL,
  order_id INTEGER REFERENCES orders(id),
  conversation_id INTEGER REFERENCES conversations(id),
  customer_id INTEGER REFERENCES customers(id),
  due_at INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'scheduled'
    CHECK (status IN ('scheduled', 'sent', 'task', 'skipped', 'cancelled')),
  reason TEXT,
  updated_at INTEGER NOT NULL
);
INSERT INTO automation_steps (step_key, step, order_id, conversation_id, customer_id, due_at, status, reason, updated_at)
SELECT step_key, step, order_id, conversation_id, customer_id, due_at, status, reason, updated_at
FROM m13_automation_steps;
CREATE INDEX automation_steps_order ON automation_steps(order_id);
CREATE INDEX automation_steps_conversation ON automation_steps(conversation_id);

DROP TABLE m13_orders;
DROP TABLE m13_order_events;
DROP TABLE m13_tasks;
DROP TABLE m13_automation_steps;

-- 2. A subscriber is linked to the customer record with the same address whichever came first.
-- upsertSubscriber links a new subscriber to an existing customer; this trigger links existing
-- subscribers when the customer record is created later (first inbound mail, first order, CSV),
-- whoever writes it. Both tables hold addresses normalised the same way (customers
-- normaliseAddress), so equality is the match. A subscriber already linked (a merge moved it) is
-- left alone.
CREATE TRIGGER customers_link_subscribers AFTER INSERT ON customers BEGIN
  UPDATE subscribers SET customer_id = new.id WHERE email = new.email AND customer_id IS NULL;
END;

-- Subscribers whose customer record was created after them, before this migration.
UPDATE subscribers SET customer_id = (SELECT c.id FROM customers c WHERE c.email = subscribers.email)
WHERE customer_id IS NULL AND EXISTS (SELECT 1 FROM customers c WHERE c.email = subscribers.email);

-- 3. Public list pages in en, zh-CN and zh-TW. consent_wording stays the wording in the list's
-- default language (default_locale); consent_wordings holds the same consent in other languages
-- ({"zh-CN": "...", "zh-TW": "..."}). A consent record keeps the wording actually shown and the
-- language it was shown in.
ALTER TABLE lists ADD COLUMN default_locale TEXT NOT NULL DEFAULT 'en'
  CHECK (default_locale IN ('en', 'zh-CN', 'zh-TW'));
ALTER TABLE lists ADD COLUMN consent_wordings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE list_consents ADD COLUMN locale TEXT;
