import type { Urgency } from '../config/index.ts';
import { type Db, prepareCached } from '../store/index.ts';
import { type ClockKind, type ClockState, evaluateClock, type SlaEvent } from './clock.ts';
import type { SlaPolicy } from './policy.ts';

/**
 * SLA clocks in SQLite. Every function is synchronous and runs a handful of statements, so the
 * ingest and web code can call it inside its own transaction. Each call records one event and
 * recomputes the conversation's row in sla_clocks from all its events with the pure clock rules.
 */

export interface SlaClockRow {
  conversation_id: number;
  state: Exclude<ClockState, 'none'>;
  kind: ClockKind;
  generation: number;
  started_at: number;
  due_at: number | null;
  warn_at: number | null;
  paused_at: number | null;
  responded_at: number | null;
  urgency: Urgency;
  department: string | null;
  policy_key: string;
  first_started_at: number;
  first_due_at: number | null;
  first_response_at: number | null;
  sla_stage: 'warning' | 'breach' | null;
  updated_at: number;
}

interface EventRow {
  type: SlaEvent['type'];
  at: number;
  urgency: Urgency | null;
  department: string | null;
  automatic: number;
}

function toEvent(r: EventRow): SlaEvent {
  switch (r.type) {
    case 'inbound':
      return { type: 'inbound', at: r.at, urgency: r.urgency ?? 'normal', department: r.department };
    case 'staff_reply':
      return { type: 'staff_reply', at: r.at, automatic: r.automatic === 1 };
    case 'urgency':
      return { type: 'urgency', at: r.at, urgency: r.urgency ?? 'normal' };
    default:
      return { type: r.type, at: r.at };
  }
}

function record(db: Db, conversationId: number, e: SlaEvent): void {
  prepareCached(
    db,
    'INSERT INTO sla_events (conversation_id, type, at, urgency, department, automatic) VALUES (?, ?, ?, ?, ?, ?)',
  ).run(
    conversationId,
    e.type,
    e.at,
    'urgency' in e ? e.urgency : null,
    'department' in e ? e.department : null,
    'automatic' in e && e.automatic ? 1 : 0,
  );
}

/**
 * Recomputes the stored clock from the events, as of `now`. The scanner's inbox mark survives only
 * while it still holds for the same clock: a reply, a new clock or a later due time clears it.
 */
export function refreshClock(
  db: Db,
  policy: SlaPolicy,
  conversationId: number,
  now: number,
): SlaClockRow | null {
  const rows = prepareCached(
    db,
    'SELECT type, at, urgency, department, automatic FROM sla_events WHERE conversation_id = ? ORDER BY at, id',
  ).all(conversationId) as EventRow[];
  const s = evaluateClock(rows.map(toEvent), policy, now);
  if (s.state === 'none' || s.kind === null || s.startedAt === null || s.firstStartedAt === null) return null;
  const prev = getClock(db, conversationId);
  let stage: SlaClockRow['sla_stage'] = null;
  if (prev?.sla_stage && prev.generation === s.generation && s.respondedAt === null && s.dueAt !== null) {
    if (prev.sla_stage === 'breach' && now > s.dueAt) stage = 'breach';
    else if (s.warnAt !== null && now >= s.warnAt) stage = 'warning';
  }
  prepareCached(
    db,
    `INSERT INTO sla_clocks (conversation_id, state, kind, generation, started_at, due_at, warn_at, paused_at,
       responded_at, urgency, department, policy_key, first_started_at, first_due_at, first_response_at,
       sla_stage, updated_at)
     VALUES (@conversation_id, @state, @kind, @generation, @started_at, @due_at, @warn_at, @paused_at,
       @responded_at, @urgency, @department, @policy_key, @first_started_at, @first_due_at, @first_response_at,
       @sla_stage, @updated_at)
     ON CONFLICT (conversation_id) DO UPDATE SET state = excluded.state, kind = excluded.kind,
       generation = excluded.generation, started_at = excluded.started_at, due_at = excluded.due_at,
       warn_at = excluded.warn_at, paused_at = excluded.paused_at, responded_at = excluded.responded_at,
       urgency = excluded.urgency, department = excluded.department, policy_key = excluded.policy_key,
       first_started_at = excluded.first_started_at, first_due_at = excluded.first_due_at,
       first_response_at = excluded.first_response_at, sla_stage = excluded.sla_stage,
       updated_at = excluded.updated_at`,
  ).run({
    conversation_id: conversationId,
    state: s.state,
    kind: s.kind,
    generation: s.generation,
    started_at: s.startedAt,
    due_at: s.dueAt,
    warn_at: s.warnAt,
    paused_at: s.pausedAt,
    responded_at: s.respondedAt,
    urgency: s.urgency ?? 'normal',
    department: s.department,
    policy_key: s.policyKey ?? 'normal',
    first_started_at: s.firstStartedAt,
    first_due_at: s.firstDueAt,
    first_response_at: s.firstResponseAt,
    sla_stage: stage,
    updated_at: now,
  });
  return getClock(db, conversationId);
}

function apply(db: Db, policy: SlaPolicy, conversationId: number, e: SlaEvent): SlaClockRow | null {
  record(db, conversationId, e);
  return refreshClock(db, policy, conversationId, e.at);
}

/** A customer message arrived (call it for customer mail only, not bounces or auto-replies). */
export function onInbound(
  db: Db,
  policy: SlaPolicy,
  conversationId: number,
  at: number,
  urgency: Urgency,
  department: string | null,
): SlaClockRow | null {
  return apply(db, policy, conversationId, { type: 'inbound', at, urgency, department });
}

/** Staff answered; an automatic acknowledgement is recorded but stops no clock. */
export function onStaffReply(
  db: Db,
  policy: SlaPolicy,
  conversationId: number,
  at: number,
  opts: { automatic?: boolean } = {},
): SlaClockRow | null {
  return apply(db, policy, conversationId, { type: 'staff_reply', at, automatic: opts.automatic ?? false });
}

/** The conversation now waits on the customer: the clock pauses. */
export function onWaitingOnCustomer(db: Db, policy: SlaPolicy, conversationId: number, at: number) {
  return apply(db, policy, conversationId, { type: 'waiting', at });
}

/** Staff took a waiting conversation back without a customer message: the clock resumes with the time left. */
export function onResumed(db: Db, policy: SlaPolicy, conversationId: number, at: number) {
  return apply(db, policy, conversationId, { type: 'resumed', at });
}

/** Urgency changed (by staff or a rule): the due time is recomputed from the original arrival. */
export function onUrgencyChange(
  db: Db,
  policy: SlaPolicy,
  conversationId: number,
  at: number,
  urgency: Urgency,
) {
  return apply(db, policy, conversationId, { type: 'urgency', at, urgency });
}

export function getClock(db: Db, conversationId: number): SlaClockRow | null {
  return (
    (prepareCached(db, 'SELECT * FROM sla_clocks WHERE conversation_id = ?').get(conversationId) as
      | SlaClockRow
      | undefined) ?? null
  );
}
