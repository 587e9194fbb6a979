import type { Db } from '../store/index.ts';
import { evaluate } from './engine.ts';
import { bodyText } from './from-parsed-mail.ts';
import type { RuleInput, RuleSet } from './types.ts';

/**
 * `rules replay`: what the current rules would decide for stored mail, beside what was decided.
 * Reads only; nothing is written.
 */

interface MessageRow {
  id: number;
  conversation_id: number;
  from_addr: string | null;
  from_name: string | null;
  to_addrs: string;
  cc_addrs: string;
  subject: string;
  text_body: string | null;
  html_body: string | null;
  headers: string;
  flags: string;
  size: number;
  received_at: number;
  vip: number | null;
  customer_tags: string | null;
  stored_department: string | null;
  stored_urgency: string | null;
  stored_tags: string | null;
  conv_department: string;
  conv_urgency: string;
}

export interface ReplayChange {
  messageId: number;
  conversationId: number;
  subject: string;
  receivedAt: number;
  before: { department: string; urgency: string; tags: string[]; source: 'decision' | 'conversation' };
  after: { department: string; urgency: string; tags: string[] };
  explanation: string[];
}

export interface ReplayResult {
  examined: number;
  changes: ReplayChange[];
}

function jsonArray(s: string | null): string[] {
  if (!s) return [];
  try {
    const v = JSON.parse(s) as unknown;
    if (!Array.isArray(v)) return [];
    // Address lists may be stored as strings or as { address, name } objects.
    return v.flatMap((x) =>
      typeof x === 'string' ? [x] : x && typeof x === 'object' && 'address' in x ? [String(x.address)] : [],
    );
  } catch {
    return [];
  }
}

function headersOf(s: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  try {
    const v = JSON.parse(s) as Record<string, unknown>;
    for (const [k, val] of Object.entries(v ?? {})) {
      out[k.toLowerCase()] = Array.isArray(val) ? val.map(String) : [String(val)];
    }
  } catch {
    // a header blob that does not parse is treated as no headers: replay must not stop on one message
  }
  return out;
}

function inputFromStored(db: Db, row: MessageRow): RuleInput {
  const attachments = db
    .prepare('SELECT filename, content_type, size FROM attachments WHERE message_id = ?')
    .all(row.id) as Array<{ filename: string | null; content_type: string; size: number }>;
  const input: RuleInput = {
    from: (row.from_addr ?? '').toLowerCase(),
    to: jsonArray(row.to_addrs),
    cc: jsonArray(row.cc_addrs),
    subject: row.subject,
    text: bodyText(row.text_body, row.html_body),
    headers: headersOf(row.headers),
    attachments: attachments.map((a) => ({
      ...(a.filename ? { filename: a.filename } : {}),
      contentType: a.content_type,
      size: a.size,
    })),
    size: row.size,
    flags: jsonArray(row.flags),
  };
  if (row.from_name) input.fromName = row.from_name;
  if (row.html_body) input.html = row.html_body;
  if (row.vip !== null) input.customer = { vip: row.vip === 1, segments: jsonArray(row.customer_tags) };
  return input;
}

/** Classifies every inbound message received since `since` and lists those whose outcome would change. */
export function replay(db: Db, rules: RuleSet, opts: { since: number; limit?: number }): ReplayResult {
  const rows = db
    .prepare(
      `SELECT m.id, m.conversation_id, m.from_addr, m.from_name, m.to_addrs, m.cc_addrs, m.subject,
         m.text_body, m.html_body, m.headers, m.flags, m.size, m.received_at,
         cu.vip AS vip, cu.tags AS customer_tags,
         d.department AS stored_department, d.urgency AS stored_urgency, d.tags AS stored_tags,
         c.department AS conv_department, c.urgency AS conv_urgency
       FROM messages m
       JOIN conversations c ON c.id = m.conversation_id
       LEFT JOIN customers cu ON cu.id = c.customer_id
       LEFT JOIN rule_decisions d ON d.message_id = m.id
       WHERE m.direction = 'in' AND m.received_at >= ?
       ORDER BY m.received_at, m.id
       LIMIT ?`,
    )
    .all(opts.since, opts.limit ?? 100_000) as MessageRow[];
  const changes: ReplayChange[] = [];
  for (const row of rows) {
    const d = evaluate(rules, inputFromStored(db, row));
    const fromDecision = row.stored_department !== null;
    const before = {
      department: row.stored_department ?? row.conv_department,
      urgency: row.stored_urgency ?? row.conv_urgency,
      tags: jsonArray(row.stored_tags),
      source: fromDecision ? ('decision' as const) : ('conversation' as const),
    };
    const tagsChanged = fromDecision && [...before.tags].sort().join() !== [...d.tags].sort().join();
    if (before.department === d.department && before.urgency === d.urgency && !tagsChanged) continue;
    changes.push({
      messageId: row.id,
      conversationId: row.conversation_id,
      subject: row.subject,
      receivedAt: row.received_at,
      before,
      after: { department: d.department, urgency: d.urgency, tags: d.tags },
      explanation: d.explanation,
    });
  }
  return { examined: rows.length, changes };
}
