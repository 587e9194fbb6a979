import type { Db } from '../store/index.ts';
import { finishedFollowUps } from './step-store.ts';

/**
 * A conversation needs a follow-up when mailroom wrote last, the conversation waits on the
 * customer, and no reply came within the delay. The key is the last outgoing message, so each
 * message of ours gets at most one follow-up, and `max` caps them until the customer writes again.
 */

export interface FollowUpCandidate {
  conversationId: number;
  customerId: number | null;
  messageId: number;
  sentAt: number;
}

export function followUpCandidates(db: Db, cutoff: number, max: number): FollowUpCandidate[] {
  const rows = db
    .prepare(
      `SELECT c.id AS conversationId, c.customer_id AS customerId, m.id AS messageId, m.received_at AS sentAt,
              coalesce(c.last_inbound_at, 0) AS lastInbound
       FROM conversations c
       JOIN messages m ON m.id = (
         SELECT id FROM messages WHERE conversation_id = c.id AND direction = 'out'
         ORDER BY received_at DESC, id DESC LIMIT 1)
       WHERE c.status = 'waiting' AND c.customer_id IS NOT NULL AND m.received_at <= ?
         AND NOT EXISTS (SELECT 1 FROM messages i WHERE i.conversation_id = c.id AND i.direction = 'in'
                         AND i.received_at > m.received_at)`,
    )
    .all(cutoff) as Array<FollowUpCandidate & { lastInbound: number }>;
  return rows
    .filter((r) => finishedFollowUps(db, r.conversationId, r.lastInbound) < max)
    .map(({ lastInbound: _, ...r }) => r);
}

export type FollowUpState =
  | { due: true; customerId: number; subject: string; department: string }
  | { due: false; reason: string };

/** Re-checked when the job runs: the customer may have answered, or staff closed the conversation. */
export function followUpStillDue(
  db: Db,
  conversationId: number,
  messageId: number,
  max: number,
): FollowUpState {
  const c = db
    .prepare(
      'SELECT customer_id, status, subject, department, last_inbound_at FROM conversations WHERE id = ?',
    )
    .get(conversationId) as
    | {
        customer_id: number | null;
        status: string;
        subject: string;
        department: string;
        last_inbound_at: number | null;
      }
    | undefined;
  if (!c || c.customer_id === null) return { due: false, reason: 'conversation gone' };
  if (c.status !== 'waiting') return { due: false, reason: `conversation ${c.status}` };
  const m = db.prepare('SELECT received_at FROM messages WHERE id = ?').get(messageId) as
    | { received_at: number }
    | undefined;
  if (!m) return { due: false, reason: 'message gone' };
  const answered = db
    .prepare(
      "SELECT 1 FROM messages WHERE conversation_id = ? AND direction = 'in' AND received_at > ? LIMIT 1",
    )
    .get(conversationId, m.received_at);
  if (answered) return { due: false, reason: 'customer answered' };
  if (finishedFollowUps(db, conversationId, c.last_inbound_at ?? 0) >= max) {
    return { due: false, reason: 'follow-up limit reached' };
  }
  return { due: true, customerId: c.customer_id, subject: c.subject, department: c.department };
}
