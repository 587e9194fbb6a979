import { simpleParser } from 'mailparser';
import { ManualClock, silentLogger } from '../../src/lib/index.ts';
import type { ComposeSettings, OutboxDeps, SendJobData } from '../../src/outbound/index.ts';
import { createEmbeddedQueue, type Job, type JobQueue } from '../../src/queue/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';

export const settings: ComposeSettings = {
  domain: 'mr.shop.example',
  from: 'Lotus Tea House <support@shop.example>',
  departments: {
    sales: { name: 'Sales', reply_to: 'sales@shop.example' },
    finance: { reply_to: 'billing@shop.example' },
  },
};

export function memoryDb(): Db {
  const db = openDatabase(':memory:');
  migrate(db);
  return db;
}

export function outboxDeps(
  db = memoryDb(),
  clock = new ManualClock(),
): OutboxDeps & { clock: ManualClock; queue: JobQueue } {
  const queue = createEmbeddedQueue({ db, clock, logger: silentLogger() });
  return { db, queue, clock, logger: silentLogger(), compose: settings };
}

export function jobFor(data: SendJobData, attempt = 1): Job<SendJobData> {
  return { id: `outbox-${data.outboxId}`, queue: 'outbound', name: 'send', data, attempt, maxAttempts: 8 };
}

/** A conversation with one inbound customer message, as ingest would have stored it. */
export function seedConversation(
  db: Db,
  opts: {
    email?: string;
    name?: string;
    locale?: string;
    subject?: string;
    department?: string;
    flags?: string[];
    headers?: Record<string, string[]>;
    messageId?: string;
    refs?: string[];
  } = {},
): { conversationId: number; messageRowId: number; customerId: number } {
  const now = Date.UTC(2026, 0, 5, 8, 0, 0);
  const email = opts.email ?? 'alice@customer.example';
  db.prepare(
    `INSERT OR IGNORE INTO customers (email, base_email, name, locale, first_contact_at, last_contact_at, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ).run(email, email, opts.name ?? 'Alice Chen', opts.locale ?? 'en', now, now, now);
  const customerId = (db.prepare('SELECT id FROM customers WHERE email = ?').get(email) as { id: number }).id;
  const conversationId = Number(
    db
      .prepare(
        `INSERT INTO conversations (customer_id, subject, department, created_at, last_message_at, last_inbound_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(
        customerId,
        opts.subject ?? 'Where is my parcel?',
        opts.department ?? 'customer_service',
        now,
        now,
        now,
      ).lastInsertRowid,
  );
  const mid = opts.messageId ?? `msg-${conversationId}@customer.example`;
  const messageRowId = Number(
    db
      .prepare(
        `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, refs, from_addr, from_name, subject,
           received_at, text_body, headers, flags)
         VALUES (?, 'in', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        conversationId,
        mid,
        `mid:${mid}`,
        JSON.stringify(opts.refs ?? []),
        email,
        opts.name ?? 'Alice Chen',
        opts.subject ?? 'Where is my parcel?',
        now,
        'Hello, where is my parcel?',
        JSON.stringify(opts.headers ?? {}),
        JSON.stringify(opts.flags ?? []),
      ).lastInsertRowid,
  );
  return { conversationId, messageRowId, customerId };
}

export const parse = (raw: string | Buffer) => simpleParser(raw);

/** Header lines of a raw message (unfolded), for checks a parser would smooth over. */
export function headerLines(raw: string): string[] {
  const head = raw.split(/\r?\n\r?\n/)[0] ?? '';
  return head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
}
