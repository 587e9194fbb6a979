-- Customers and orders: orders and their events from the shop, saved segments, staff tasks and the
-- record of every automation step (so a step is done at most once).
-- Times are integer milliseconds since the Unix epoch (UTC).

CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  external_id TEXT NOT NULL UNIQUE,      -- the shop's order number
  customer_id INTEGER NOT NULL REFERENCES customers(id),
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
  refunded_at INTEGER
);
CREATE INDEX orders_customer ON orders(customer_id, created_at);
CREATE INDEX orders_status ON orders(status);

-- event_id is the shop's id of the event: the same event posted twice is accepted once.
CREATE TABLE order_events (
  id INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  type TEXT NOT NULL,
  at INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  payload TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX order_events_order ON order_events(order_id, at);

-- Saved customer filters for campaigns; filter is validated JSON compiled to parameterised SQL.
CREATE TABLE segments (
  id TEXT PRIMARY KEY,                   -- slug, also campaigns.segment_id
  name TEXT NOT NULL,
  filter TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- Work for staff ("call the customer"), created by automations instead of mail where configured.
CREATE TABLE IF NOT EXISTS tasks (
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
CREATE INDEX tasks_status ON tasks(status, created_at);

-- One row per automation step (key like order-12-reminder-1): a finished step never runs again.
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
CREATE INDEX automation_steps_order ON automation_steps(order_id);
CREATE INDEX automation_steps_conversation ON automation_steps(conversation_id);
