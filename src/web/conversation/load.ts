import type { Db } from '../../store/index.ts';
import { type StaffUser, visibleDepartments } from '../auth/users.ts';
import type { SchemaFeatures } from '../inbox/query.ts';

export interface ConversationRow {
  id: number;
  customer_id: number | null;
  subject: string;
  department: string;
  urgency: string;
  status: string;
  assignee: string | null;
  tags: string;
  linked_to: number | null;
  created_at: number;
  last_message_at: number;
  last_inbound_at: number | null;
  snoozed_until: number | null;
}

/** The conversation when it exists and the user may see its department; otherwise null (shown as 404). */
export function visibleConversation(db: Db, user: StaffUser, id: number): ConversationRow | null {
  if (!Number.isSafeInteger(id) || id <= 0) return null;
  const c = db.prepare('SELECT * FROM conversations WHERE id = ?').get(id) as ConversationRow | undefined;
  if (!c) return null;
  const deps = visibleDepartments(user);
  if (deps !== null && !deps.includes(c.department)) return null;
  return c;
}

export interface MessageView {
  id: number;
  direction: string;
  from_addr: string | null;
  from_name: string | null;
  to: string;
  subject: string;
  at: number;
  text_body: string | null;
  has_html: boolean;
  flags: string[];
  author: string | null;
  attachments: { id: number; filename: string; size: number; content_type: string }[];
  /** Outgoing mail: where its send stands (the outbox row), and whether staff may send it again. */
  delivery: { status: string; key: string; response: string | null; again: boolean } | null;
}

/** Outbox statuses staff can send again from the conversation (src/outbound sendAgain). */
const SEND_AGAIN = new Set(['failed', 'uncertain']);
/** Statuses whose last SMTP response is worth showing beside them. */
const SHOW_RESPONSE = new Set(['failed', 'uncertain', 'queued']);

function addrList(json: string): string {
  try {
    const v = JSON.parse(json) as unknown;
    if (!Array.isArray(v)) return '';
    return v
      .map((a) => (typeof a === 'string' ? a : ((a as { address?: string })?.address ?? '')))
      .filter(Boolean)
      .join(', ');
  } catch {
    return '';
  }
}

export function loadMessages(db: Db, conversationId: number): MessageView[] {
  const msgs = db
    .prepare(
      `SELECT m.id, m.direction, m.from_addr, m.from_name, m.to_addrs, m.subject, m.sent_at, m.received_at,
        m.text_body, m.html_body IS NOT NULL AND m.html_body != '' AS has_html, m.flags, m.author,
        o.status AS delivery_status, o.last_response AS delivery_response
       FROM messages m LEFT JOIN outbox o ON m.direction = 'out' AND o.message_id = m.message_id
       WHERE m.conversation_id = ? ORDER BY m.received_at, m.id`,
    )
    .all(conversationId) as Array<{
    id: number;
    direction: string;
    from_addr: string | null;
    from_name: string | null;
    to_addrs: string;
    subject: string;
    sent_at: number | null;
    received_at: number;
    text_body: string | null;
    has_html: number;
    flags: string;
    author: string | null;
    delivery_status: string | null;
    delivery_response: string | null;
  }>;
  const atts = db.prepare(
    'SELECT id, filename, size, content_type FROM attachments WHERE message_id = ? AND inline = 0 ORDER BY id',
  );
  return msgs.map((m) => ({
    id: m.id,
    direction: m.direction,
    from_addr: m.from_addr,
    from_name: m.from_name,
    to: addrList(m.to_addrs),
    subject: m.subject,
    at: m.received_at,
    text_body: m.text_body,
    has_html: Boolean(m.has_html),
    flags: JSON.parse(m.flags) as string[],
    author: m.author,
    attachments: (
      atts.all(m.id) as { id: number; filename: string | null; size: number; content_type: string }[]
    ).map((a) => ({ ...a, filename: a.filename ?? `attachment-${a.id}` })),
    delivery: m.delivery_status
      ? {
          status: m.delivery_status,
          key: `delivery_${m.delivery_status}`,
          response: SHOW_RESPONSE.has(m.delivery_status) ? m.delivery_response : null,
          again: SEND_AGAIN.has(m.delivery_status),
        }
      : null,
  }));
}

export function loadDecision(db: Db, f: SchemaFeatures, conversationId: number) {
  if (!f.ruleDecisions) return null;
  const r = db
    .prepare(
      `SELECT department, urgency, rules, explanation, decided_at FROM rule_decisions
       WHERE conversation_id = ? ORDER BY decided_at DESC LIMIT 1`,
    )
    .get(conversationId) as
    | { department: string; urgency: string; rules: string; explanation: string; decided_at: number }
    | undefined;
  if (!r) return null;
  return {
    department: r.department,
    urgency: r.urgency,
    rules: JSON.parse(r.rules) as string[],
    explanation: JSON.parse(r.explanation) as string[],
    decidedAt: r.decided_at,
  };
}

export function loadSla(db: Db, f: SchemaFeatures, conversationId: number, now: number) {
  if (!f.slaClocks) return null;
  const r = db.prepare('SELECT * FROM sla_clocks WHERE conversation_id = ?').get(conversationId) as
    | { state: string; due_at: number | null; warn_at?: number | null; sla_stage?: string | null }
    | undefined;
  if (!r) return null;
  const breached = r.state === 'breached' || (r.state === 'running' && r.due_at !== null && r.due_at <= now);
  const atRisk =
    !breached &&
    r.state === 'running' &&
    (r.sla_stage === 'warning' || (r.warn_at !== null && r.warn_at !== undefined && r.warn_at <= now));
  return { state: r.state, dueAt: r.due_at, breached, atRisk };
}

/**
 * The customer box. `departments` are those the user may see (null: all): other conversations of
 * the customer in departments the user cannot see are left out, subjects included.
 */
export function loadCustomer(db: Db, customerId: number | null, departments: readonly string[] | null) {
  if (customerId === null) return null;
  const c = db
    .prepare(
      'SELECT id, email, name, locale, vip, tags, notes, first_contact_at, order_count, total_cents FROM customers WHERE id = ?',
    )
    .get(customerId) as
    | {
        id: number;
        email: string;
        name: string | null;
        vip: number;
        tags: string;
        notes: string;
        first_contact_at: number;
        order_count: number;
        total_cents: number;
      }
    | undefined;
  if (!c) return null;
  const others = db
    .prepare(
      `SELECT id, subject, status, last_message_at FROM conversations WHERE customer_id = @customer
         AND (@departments IS NULL OR department IN (SELECT value FROM json_each(@departments)))
       ORDER BY last_message_at DESC LIMIT 10`,
    )
    .all({ customer: customerId, departments: departments ? JSON.stringify(departments) : null });
  return { ...c, tags: JSON.parse(c.tags) as string[], total: (c.total_cents / 100).toFixed(2), others };
}

export function loadNotes(db: Db, conversationId: number) {
  return db
    .prepare('SELECT author, body, created_at FROM notes WHERE conversation_id = ? ORDER BY created_at, id')
    .all(conversationId);
}

export function loadTimeline(db: Db, conversationId: number) {
  return (
    db
      .prepare(
        'SELECT at, actor, kind, detail FROM conversation_events WHERE conversation_id = ? ORDER BY at DESC, id DESC LIMIT 50',
      )
      .all(conversationId) as { at: number; actor: string; kind: string; detail: string }[]
  ).map((e) => ({
    ...e,
    detail: Object.entries(JSON.parse(e.detail) as Record<string, unknown>)
      .map(([k, v]) => `${k}: ${String(v)}`)
      .join(', '),
  }));
}
