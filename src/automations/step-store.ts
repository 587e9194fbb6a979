import type { Db } from '../store/index.ts';
import type { StepName } from './types.ts';

/** automation_steps: one row per step key; a finished row means the step never runs again. */

export type StepStatus = 'scheduled' | 'sent' | 'task' | 'skipped' | 'cancelled';

export interface StepRow {
  step_key: string;
  step: StepName;
  order_id: number | null;
  conversation_id: number | null;
  customer_id: number | null;
  due_at: number;
  status: StepStatus;
  reason: string | null;
  updated_at: number;
}

export function getStep(db: Db, key: string): StepRow | undefined {
  return db.prepare('SELECT * FROM automation_steps WHERE step_key = ?').get(key) as StepRow | undefined;
}

/** Inserts the row if new; returns false when the step already exists (scheduled or finished). */
export function insertStep(
  db: Db,
  row: Pick<StepRow, 'step_key' | 'step' | 'order_id' | 'conversation_id' | 'customer_id' | 'due_at'>,
  now: number,
): boolean {
  const res = db
    .prepare(
      `INSERT OR IGNORE INTO automation_steps (step_key, step, order_id, conversation_id, customer_id, due_at, status, updated_at)
       VALUES (@step_key, @step, @order_id, @conversation_id, @customer_id, @due_at, 'scheduled', @now)`,
    )
    .run({ ...row, now });
  return res.changes > 0;
}

/** Moves a still-scheduled step to a final status; a finished step keeps its first outcome. */
export function finishStep(
  db: Db,
  key: string,
  status: Exclude<StepStatus, 'scheduled'>,
  now: number,
  reason?: string,
) {
  db.prepare(
    `UPDATE automation_steps SET status = ?, reason = ?, updated_at = ? WHERE step_key = ? AND status = 'scheduled'`,
  ).run(status, reason ?? null, now, key);
}

export function scheduledSteps(db: Db, orderId: number, steps: StepName[]): StepRow[] {
  const marks = steps.map(() => '?').join(', ');
  return db
    .prepare(
      `SELECT * FROM automation_steps WHERE order_id = ? AND status = 'scheduled' AND step IN (${marks})`,
    )
    .all(orderId, ...steps) as StepRow[];
}

export function stepsForOrder(db: Db, orderId: number): StepRow[] {
  return db
    .prepare('SELECT * FROM automation_steps WHERE order_id = ? ORDER BY due_at, step_key')
    .all(orderId) as StepRow[];
}

export function finishedFollowUps(db: Db, conversationId: number, since: number): number {
  const row = db
    .prepare(
      `SELECT count(*) AS n FROM automation_steps
       WHERE conversation_id = ? AND step = 'follow_up' AND status IN ('sent', 'task') AND due_at > ?`,
    )
    .get(conversationId, since) as { n: number };
  return row.n;
}
