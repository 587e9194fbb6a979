import { Departments, Urgencies } from '../../config/index.ts';
import { ErrorCodes, MailroomError } from '../../lib/index.ts';
import { type Db, inTransaction } from '../../store/index.ts';
import { listUsers, type StaffUser, visibleDepartments } from '../auth/users.ts';
import type { ConversationRow } from './load.ts';
import { visibleConversation } from './load.ts';

function event(db: Db, conversationId: number, at: number, actor: string, kind: string, detail = {}): void {
  db.prepare(
    'INSERT INTO conversation_events (conversation_id, at, actor, kind, detail) VALUES (?, ?, ?, ?, ?)',
  ).run(conversationId, at, actor, kind, JSON.stringify(detail));
}

const invalid = (msg: string) => new MailroomError(ErrorCodes.VALIDATION, msg);

export function addNote(db: Db, c: ConversationRow, user: StaffUser, body: string, now: number): void {
  const text = body.trim();
  if (!text) throw invalid('the note is empty');
  if (text.length > 20000) throw invalid('the note is longer than 20,000 characters');
  db.prepare('INSERT INTO notes (conversation_id, author, body, created_at) VALUES (?, ?, ?, ?)').run(
    c.id,
    user.username,
    text,
    now,
  );
}

/** Active staff who can open a conversation of this department: admins and its agents. */
export function usersWhoSee(db: Db, department: string): StaffUser[] {
  return listUsers(db, { active: true }).filter((u) => {
    const seen = visibleDepartments(u);
    return seen === null || seen.includes(department);
  });
}

export function assign(db: Db, c: ConversationRow, user: StaffUser, assignee: string, now: number): void {
  const to = assignee.trim() || null;
  if (to !== null && !db.prepare('SELECT 1 FROM users WHERE username = ? AND disabled = 0').get(to))
    throw invalid(`there is no user named "${to}"`);
  // Someone who cannot open it would find it in "Mine" and get a 404 (a marketer, another desk).
  if (to !== null && !usersWhoSee(db, c.department).some((u) => u.username === to))
    throw invalid(`${to} cannot open ${c.department} conversations; assign an admin or one of its agents`);
  inTransaction(db, () => {
    db.prepare('UPDATE conversations SET assignee = ? WHERE id = ?').run(to, c.id);
    event(db, c.id, now, user.username, 'assign', { from: c.assignee ?? '-', to: to ?? '-' });
  });
}

/** Changes department or urgency; returns the old value when it changed, for the correction report. */
export function setField(
  db: Db,
  c: ConversationRow,
  user: StaffUser,
  field: 'department' | 'urgency',
  value: string,
  now: number,
): string | null {
  const allowed: readonly string[] = field === 'department' ? Departments : Urgencies;
  if (!allowed.includes(value)) throw invalid(`${field} must be one of ${allowed.join(', ')}`);
  const old = c[field];
  if (old === value) return null;
  inTransaction(db, () => {
    db.prepare(`UPDATE conversations SET ${field} = ? WHERE id = ?`).run(value, c.id);
    event(db, c.id, now, user.username, field, { from: old, to: value });
  });
  return old;
}

export function setStatus(
  db: Db,
  c: ConversationRow,
  user: StaffUser,
  status: 'open' | 'closed' | 'snoozed',
  now: number,
  snoozedUntil: number | null = null,
): void {
  if (status === 'snoozed' && (snoozedUntil === null || snoozedUntil <= now))
    throw invalid('choose a snooze time in the future');
  inTransaction(db, () => {
    db.prepare('UPDATE conversations SET status = ?, snoozed_until = ? WHERE id = ?').run(
      status,
      status === 'snoozed' ? snoozedUntil : null,
      c.id,
    );
    event(
      db,
      c.id,
      now,
      user.username,
      status === 'open' ? 'reopen' : status === 'closed' ? 'close' : 'snooze',
      {
        ...(snoozedUntil ? { until: new Date(snoozedUntil).toISOString() } : {}),
      },
    );
  });
}

/** Moves every message of conversation `sourceId` into `target` and closes the source, linked to the target. */
export function merge(db: Db, target: ConversationRow, user: StaffUser, sourceId: number, now: number): void {
  if (sourceId === target.id) throw invalid('a conversation cannot be merged into itself');
  const source = visibleConversation(db, user, sourceId);
  if (!source) throw new MailroomError(ErrorCodes.NOT_FOUND, `conversation #${sourceId} does not exist`);
  inTransaction(db, () => {
    db.prepare('UPDATE messages SET conversation_id = ? WHERE conversation_id = ?').run(target.id, source.id);
    db.prepare('UPDATE notes SET conversation_id = ? WHERE conversation_id = ?').run(target.id, source.id);
    db.prepare(
      `UPDATE conversations SET
         last_message_at = max(last_message_at, ?),
         last_inbound_at = max(coalesce(last_inbound_at, 0), coalesce(?, 0))
       WHERE id = ?`,
    ).run(source.last_message_at, source.last_inbound_at, target.id);
    db.prepare("UPDATE conversations SET status = 'closed', linked_to = ? WHERE id = ?").run(
      target.id,
      source.id,
    );
    event(db, target.id, now, user.username, 'merge', { from: `#${source.id}` });
    event(db, source.id, now, user.username, 'merged', { into: `#${target.id}` });
  });
}

/** "2026-01-05T14:30" from a datetime-local field, read as UTC (the page labels it so). */
export function parseLocalTime(s: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(s)) return null;
  const t = Date.parse(`${s}Z`);
  return Number.isFinite(t) ? t : null;
}
