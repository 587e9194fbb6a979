import { type Db, prepareCached } from '../store/index.ts';
import type { Decision } from './types.ts';

/** The pseudo rule name for values that came from the configured default rather than a rule. */
export const DEFAULT_RULE = '(default)';

export interface StoredDecision {
  messageId: number;
  conversationId: number | null;
  department: string;
  urgency: string;
  tags: string[];
  rules: string[];
  departmentRule: string | null;
  urgencyRule: string | null;
  explanation: string[];
  decidedAt: number;
}

interface DecisionRow {
  message_id: number;
  conversation_id: number | null;
  department: string;
  urgency: string;
  tags: string;
  rules: string;
  department_rule: string | null;
  urgency_rule: string | null;
  explanation: string;
  decided_at: number;
}

function fromRow(r: DecisionRow): StoredDecision {
  return {
    messageId: r.message_id,
    conversationId: r.conversation_id,
    department: r.department,
    urgency: r.urgency,
    tags: JSON.parse(r.tags) as string[],
    rules: JSON.parse(r.rules) as string[],
    departmentRule: r.department_rule,
    urgencyRule: r.urgency_rule,
    explanation: JSON.parse(r.explanation) as string[],
    decidedAt: r.decided_at,
  };
}

/** Stores (or replaces) the decision for one message, with the rules and text that made it. */
export function saveDecision(
  db: Db,
  d: { messageId: number; conversationId: number | null; decision: Decision; at: number },
): void {
  prepareCached(
    db,
    `INSERT INTO rule_decisions (message_id, conversation_id, department, urgency, tags, rules,
       department_rule, urgency_rule, explanation, decided_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(message_id) DO UPDATE SET conversation_id = excluded.conversation_id,
       department = excluded.department, urgency = excluded.urgency, tags = excluded.tags,
       rules = excluded.rules, department_rule = excluded.department_rule,
       urgency_rule = excluded.urgency_rule, explanation = excluded.explanation,
       decided_at = excluded.decided_at`,
  ).run(
    d.messageId,
    d.conversationId,
    d.decision.department,
    d.decision.urgency,
    JSON.stringify(d.decision.tags),
    JSON.stringify(d.decision.matched.map((m) => m.rule)),
    d.decision.decidedBy.department,
    d.decision.decidedBy.urgency,
    JSON.stringify(d.decision.explanation),
    d.at,
  );
}

export function getDecision(db: Db, messageId: number): StoredDecision | null {
  const row = prepareCached(db, 'SELECT * FROM rule_decisions WHERE message_id = ?').get(messageId) as
    | DecisionRow
    | undefined;
  return row ? fromRow(row) : null;
}

/** The newest decision in a conversation: what the staff member is overriding. */
export function latestDecisionFor(db: Db, conversationId: number): StoredDecision | null {
  const row = prepareCached(
    db,
    'SELECT * FROM rule_decisions WHERE conversation_id = ? ORDER BY decided_at DESC, message_id DESC LIMIT 1',
  ).get(conversationId) as DecisionRow | undefined;
  return row ? fromRow(row) : null;
}

export interface CorrectionInput {
  conversationId: number;
  field: 'department' | 'urgency';
  oldValue: string;
  newValue: string;
  user: string;
  at: number;
  /** The rules that had decided the old value; looked up from the stored decision when omitted. */
  rules?: string[];
}

/**
 * Records a staff correction. Unless given, the rules blamed are the one that set the field in the
 * conversation's latest decision, or "(default)" when no rule did.
 */
export function recordCorrection(db: Db, c: CorrectionInput): number {
  let rules = c.rules;
  if (!rules) {
    const d = latestDecisionFor(db, c.conversationId);
    const rule = d ? (c.field === 'department' ? d.departmentRule : d.urgencyRule) : null;
    rules = d ? [rule ?? DEFAULT_RULE] : [];
  }
  const res = prepareCached(
    db,
    `INSERT INTO rule_corrections (conversation_id, field, old_value, new_value, user, at, rules)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ).run(c.conversationId, c.field, c.oldValue, c.newValue, c.user, c.at, JSON.stringify(rules));
  return Number(res.lastInsertRowid);
}

export interface OverriddenRule {
  rule: string;
  field: 'department' | 'urgency';
  corrections: number;
  /** The most common value staff chose instead. */
  usualChange: string;
  lastAt: number;
}

/** The rules staff overrode most often since `since`, most overridden first. */
export function mostOverriddenRules(db: Db, opts: { since?: number; limit?: number } = {}): OverriddenRule[] {
  const rows = prepareCached(
    db,
    `SELECT j.value AS rule, c.field AS field, COUNT(*) AS corrections, MAX(c.at) AS lastAt,
         (SELECT c2.old_value || ' -> ' || c2.new_value FROM rule_corrections c2, json_each(c2.rules) j2
           WHERE j2.value = j.value AND c2.field = c.field AND c2.at >= ?
           GROUP BY c2.old_value, c2.new_value ORDER BY COUNT(*) DESC, MAX(c2.at) DESC LIMIT 1) AS usualChange
       FROM rule_corrections c, json_each(c.rules) j
       WHERE c.at >= ?
       GROUP BY j.value, c.field
       ORDER BY corrections DESC, lastAt DESC
       LIMIT ?`,
  ).all(opts.since ?? 0, opts.since ?? 0, opts.limit ?? 20) as OverriddenRule[];
  return rows;
}
