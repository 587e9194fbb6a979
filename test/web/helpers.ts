import type { FastifyInstance } from 'fastify';
import { type Config, loadConfig } from '../../src/config/index.ts';
import { ManualClock, silentLogger } from '../../src/lib/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';
import { buildWebServer, createUser, type Role, type WebDeps } from '../../src/web/index.ts';
import { tempDir } from '../harness/index.ts';

export const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);
export const HOUR = 3_600_000;
export const PASSWORD = 'correct horse battery';

export interface TestWeb {
  app: FastifyInstance;
  db: Db;
  config: Config;
  clock: ManualClock;
  dir: string;
}

export function testConfig(dir: string, env: Record<string, string> = {}): Config {
  return loadConfig({ env: { MAILROOM_DATA_DIR: dir, ...env }, cwd: dir });
}

export async function makeWeb(
  extra: Partial<WebDeps> = {},
  env: Record<string, string> = {},
  dir = tempDir('mailroom-web-'),
): Promise<TestWeb> {
  const config = testConfig(dir, env);
  const db = openDatabase(config.paths.dbFile);
  migrate(db);
  const clock = new ManualClock(NOW);
  const app = buildWebServer({ config, db, logger: silentLogger(), clock, ...extra });
  return { app, db, config, clock, dir };
}

export async function addUser(db: Db, username: string, role: Role, departments: string[] = []) {
  return createUser(db, new ManualClock(NOW), { username, password: PASSWORD, role, departments });
}

export function cookieHeader(setCookie: string | string[] | undefined): string {
  const list = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  return list.map((c) => c.split(';')[0]).join('; ');
}

export function hiddenCsrf(html: string): string {
  const m = /name="_csrf" value="([^"]*)"/.exec(html);
  if (!m?.[1]) throw new Error('no CSRF field on the page');
  return m[1];
}

export interface LoggedIn {
  cookie: string;
  csrf: string;
}

export async function login(app: FastifyInstance, username: string, password = PASSWORD): Promise<LoggedIn> {
  const form = await app.inject({ method: 'GET', url: '/login' });
  const pre = cookieHeader(form.headers['set-cookie']);
  const res = await app.inject({
    method: 'POST',
    url: '/login',
    headers: { cookie: pre, 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({
      _csrf: hiddenCsrf(form.body),
      username,
      password,
      next: '/inbox',
    }).toString(),
  });
  if (res.statusCode !== 303) throw new Error(`login failed: ${res.statusCode} ${res.body.slice(0, 200)}`);
  const cookie = cookieHeader(res.headers['set-cookie']);
  const page = await app.inject({ method: 'GET', url: '/inbox', headers: { cookie } });
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(page.body)?.[1] ?? '';
  return { cookie, csrf };
}

export function postForm(app: FastifyInstance, who: LoggedIn, url: string, fields: Record<string, string>) {
  return app.inject({
    method: 'POST',
    url,
    headers: { cookie: who.cookie, 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ _csrf: who.csrf, ...fields }).toString(),
  });
}

export interface SeedConversation {
  department: string;
  subject: string;
  urgency?: 'urgent' | 'normal' | 'thanks';
  fromName?: string;
  fromAddr?: string;
  text?: string;
  html?: string;
  /** SLA due time relative to NOW (ms); omitted = no clock. */
  dueIn?: number;
  slaState?: 'running' | 'breached' | 'met' | 'paused';
  warning?: boolean;
  tags?: string[];
  assignee?: string;
  status?: 'open' | 'waiting' | 'snoozed' | 'closed';
  receivedAgo?: number;
}

let seq = 0;

/** Inserts a customer, a conversation with one inbound message and, when asked, its SLA clock. */
export function seedConversation(db: Db, s: SeedConversation): { conversationId: number; messageId: number } {
  seq += 1;
  const at = NOW - (s.receivedAgo ?? HOUR);
  const email = s.fromAddr ?? `customer${seq}@example.com`;
  const cust = db
    .prepare(
      `INSERT INTO customers (email, base_email, name, first_contact_at, last_contact_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(email) DO UPDATE SET last_contact_at = excluded.last_contact_at RETURNING id`,
    )
    .get(email, email, s.fromName ?? null, at, at, at) as { id: number };
  const conv = db
    .prepare(
      `INSERT INTO conversations (customer_id, subject, department, urgency, status, assignee, tags, created_at, last_message_at, last_inbound_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      cust.id,
      s.subject,
      s.department,
      s.urgency ?? 'normal',
      s.status ?? 'open',
      s.assignee ?? null,
      JSON.stringify(s.tags ?? []),
      at,
      at,
      at,
    );
  const conversationId = Number(conv.lastInsertRowid);
  const msg = db
    .prepare(
      `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, from_addr, from_name, to_addrs, subject, received_at, text_body, html_body)
       VALUES (?, 'in', ?, ?, ?, ?, '["support@shop.example"]', ?, ?, ?, ?)`,
    )
    .run(
      conversationId,
      `m${seq}@example.com`,
      `d${seq}-${conversationId}`,
      email,
      s.fromName ?? null,
      s.subject,
      at,
      s.text ?? 'Hello',
      s.html ?? null,
    );
  if (s.dueIn !== undefined) {
    const due = NOW + s.dueIn;
    db.prepare(
      `INSERT INTO sla_clocks (conversation_id, state, kind, generation, started_at, due_at, warn_at, urgency,
         department, policy_key, first_started_at, first_due_at, sla_stage, updated_at)
       VALUES (?, ?, 'first', 1, ?, ?, ?, ?, ?, 'normal', ?, ?, ?, ?)`,
    ).run(
      conversationId,
      s.slaState ?? 'running',
      at,
      due,
      // The scanner marks a clock 'warning' once warn_at has passed; keep the seed consistent with that.
      s.warning ? Math.min(NOW, due - 2 * HOUR) : Math.max(due - 2 * HOUR, NOW + 1),
      s.urgency ?? 'normal',
      s.department,
      at,
      due,
      s.warning ? 'warning' : null,
      at,
    );
  }
  return { conversationId, messageId: Number(msg.lastInsertRowid) };
}
