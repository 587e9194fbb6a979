import type { Urgency } from '../config/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import { type Db, inTransaction } from '../store/index.ts';

/**
 * The scheduled SLA scan: finds clocks that entered their warning window or passed their due time,
 * records one notification per clock and stage, marks the conversation in the inbox (sla_stage) and
 * hands each new notification to `notify`. The UNIQUE (conversation, generation, stage) row is what
 * stops a second mail on the next scan or after a restart; a notification whose `notify` failed or
 * whose scanner died mid-way stays unsent and is retried by a later scan.
 */

export type SlaStage = 'warning' | 'breach';

export interface SlaNotice {
  conversationId: number;
  stage: SlaStage;
  department: string | null;
  urgency: Urgency;
  dueAt: number;
  generation: number;
  /** config.mail.departments[department].escalation, when configured. */
  escalationTo: string | null;
  /** Stable per clock and stage ("sla-12-1-breach"): use it as the outbox/queue idempotency key. */
  key: string;
}

export interface ScanSlaDeps {
  db: Db;
  clock: Clock;
  config: { mail: { departments: Partial<Record<string, { escalation?: string | undefined }>> } };
  notify: (notice: SlaNotice) => void | Promise<void>;
  logger?: Logger;
  /** Clocks examined per scan; the rest wait for the next one. */
  batch?: number;
  /**
   * Breaches older than this are marked in the inbox but not mailed (default 7 days): importing
   * old mail or starting after a long outage must not flood the escalation addresses.
   */
  staleAfterMs?: number;
}

export interface ScanSlaResult {
  warnings: number;
  breaches: number;
  notified: number;
  failed: number;
}

/** A claim older than this belongs to a scanner that died; its notifications are tried again. */
const CLAIM_TIMEOUT_MS = 5 * 60_000;

interface DueRow {
  conversation_id: number;
  generation: number;
  started_at: number;
  due_at: number;
  department: string | null;
}

interface PendingRow {
  id: number;
  conversation_id: number;
  generation: number;
  stage: SlaStage;
  department: string | null;
  due_at: number;
  urgency: Urgency;
}

export async function scanSla(deps: ScanSlaDeps): Promise<ScanSlaResult> {
  const { db, clock, config, notify, logger } = deps;
  const now = clock.now();
  const result: ScanSlaResult = { warnings: 0, breaches: 0, notified: 0, failed: 0 };
  const staleAfterMs = deps.staleAfterMs ?? 7 * 86_400_000;

  const pending = inTransaction(db, () => {
    const due = db
      .prepare(
        `SELECT conversation_id, generation, started_at, due_at, department FROM sla_clocks
         WHERE responded_at IS NULL AND paused_at IS NULL AND COALESCE(sla_stage, '') <> 'breach'
           AND warn_at <= @now AND due_at IS NOT NULL AND (sla_stage IS NULL OR due_at < @now)
         ORDER BY due_at LIMIT @batch`,
      )
      .all({ now, batch: deps.batch ?? 500 }) as DueRow[];
    const insert = db.prepare(
      `INSERT INTO sla_notifications (conversation_id, generation, started_at, stage, department, due_at, created_at,
         notified_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    const mark = db.prepare(
      `UPDATE sla_clocks SET sla_stage = @stage,
         state = CASE WHEN @stage = 'breach' THEN 'breached' ELSE state END
       WHERE conversation_id = @id`,
    );
    for (const c of due) {
      // On time up to and including the due instant; a clock first seen after it skips the warning.
      const stage: SlaStage = now > c.due_at ? 'breach' : 'warning';
      const stale = now - c.due_at > staleAfterMs;
      const ins = insert.run(
        c.conversation_id,
        c.generation,
        c.started_at,
        stage,
        c.department,
        c.due_at,
        now,
        stale ? now : null,
      );
      if (ins.changes > 0) result[stage === 'breach' ? 'breaches' : 'warnings'] += 1;
      mark.run({ stage, id: c.conversation_id });
    }
    // Notifications for clocks answered or restarted meanwhile are dropped, not mailed.
    db.prepare(
      `UPDATE sla_notifications SET notified_at = @now WHERE notified_at IS NULL AND NOT EXISTS (
         SELECT 1 FROM sla_clocks k WHERE k.conversation_id = sla_notifications.conversation_id
           AND k.generation = sla_notifications.generation AND k.responded_at IS NULL)`,
    ).run({ now });
    const rows = db
      .prepare(
        `SELECT n.id, n.conversation_id, n.generation, n.stage, n.department, n.due_at, k.urgency
         FROM sla_notifications n JOIN sla_clocks k ON k.conversation_id = n.conversation_id
         WHERE n.notified_at IS NULL AND (n.claimed_at IS NULL OR n.claimed_at < @stale)
         ORDER BY n.id`,
      )
      .all({ stale: now - CLAIM_TIMEOUT_MS }) as PendingRow[];
    const claim = db.prepare(
      'UPDATE sla_notifications SET claimed_at = ?, attempts = attempts + 1 WHERE id = ?',
    );
    for (const r of rows) claim.run(now, r.id);
    return rows;
  });

  const done = db.prepare('UPDATE sla_notifications SET notified_at = ?, claimed_at = NULL WHERE id = ?');
  const release = db.prepare('UPDATE sla_notifications SET claimed_at = NULL WHERE id = ?');
  for (const r of pending) {
    const notice: SlaNotice = {
      conversationId: r.conversation_id,
      stage: r.stage,
      department: r.department,
      urgency: r.urgency,
      dueAt: r.due_at,
      generation: r.generation,
      escalationTo: (r.department && config.mail.departments[r.department]?.escalation) || null,
      key: `sla-${r.conversation_id}-${r.generation}-${r.stage}`,
    };
    try {
      await notify(notice);
      done.run(clock.now(), r.id);
      result.notified += 1;
      logger?.info(
        { conversationId: r.conversation_id, stage: r.stage, dueAt: r.due_at },
        'sla notification sent',
      );
    } catch (err) {
      release.run(r.id);
      result.failed += 1;
      logger?.warn(
        { conversationId: r.conversation_id, stage: r.stage, err },
        'sla notification failed; the next scan retries it',
      );
    }
  }
  return result;
}
