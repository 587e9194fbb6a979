import { ErrorCodes, MailroomError } from '../lib/index.ts';
import { type Db, prepareCached } from '../store/index.ts';
import { getList } from './repo.ts';
import { trackingCounts } from './tracking.ts';
import { DEFAULT_SETTINGS } from './types.ts';

export type CampaignStatus = 'draft' | 'scheduled' | 'running' | 'paused' | 'cancelled' | 'done';

export interface CampaignRow {
  id: number;
  name: string;
  list_ids: string;
  segment_id: string | null;
  template: string;
  subject: string;
  status: CampaignStatus;
  scheduled_at: number | null;
  expanded_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  total: number;
  bounce_threshold: number;
  complaint_threshold: number;
  tracking: number;
  paused_reason: string | null;
  created_at: number;
  updated_at: number;
}

export interface CampaignInput {
  name: string;
  listIds?: number[];
  segmentId?: string | null;
  /** Template name under templates/ (rendered per recipient by the injected render). */
  template: string;
  subject: string;
  bounceThreshold?: number;
  complaintThreshold?: number;
  /** Open/click tracking: off unless asked for, per campaign (the privacy note must say so). */
  tracking?: boolean;
}

export function createCampaign(db: Db, input: CampaignInput, at: number): CampaignRow {
  const listIds = [...new Set(input.listIds ?? [])];
  if (listIds.length === 0 && !input.segmentId) {
    throw new MailroomError(ErrorCodes.VALIDATION, 'a campaign needs at least one list or a segment');
  }
  for (const id of listIds) {
    if (!getList(db, id)) throw new MailroomError(ErrorCodes.NOT_FOUND, `there is no list with id ${id}`);
  }
  if (!input.subject.trim() || /[\r\n]/.test(input.subject)) {
    throw new MailroomError(ErrorCodes.VALIDATION, 'the subject must be one non-empty line');
  }
  const info = db
    .prepare(
      `INSERT INTO campaigns (name, list_ids, segment_id, template, subject, bounce_threshold, complaint_threshold,
         tracking, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      input.name,
      JSON.stringify(listIds),
      input.segmentId ?? null,
      input.template,
      input.subject,
      input.bounceThreshold ?? DEFAULT_SETTINGS.bounceThreshold,
      input.complaintThreshold ?? DEFAULT_SETTINGS.complaintThreshold,
      input.tracking ? 1 : 0,
      at,
      at,
    );
  return getCampaign(db, Number(info.lastInsertRowid));
}

export function getCampaign(db: Db, id: number): CampaignRow {
  const row = prepareCached(db, 'SELECT * FROM campaigns WHERE id = ?').get(id) as CampaignRow | undefined;
  if (!row) throw new MailroomError(ErrorCodes.NOT_FOUND, `there is no campaign ${id}`);
  return row;
}

export function listCampaigns(db: Db): CampaignRow[] {
  return db.prepare('SELECT * FROM campaigns ORDER BY id DESC').all() as CampaignRow[];
}

/** `extra` SET clauses may use @at (UPDATE reads old values, so updated_at cannot stand for now). */
function move(db: Db, id: number, from: CampaignStatus[], to: CampaignStatus, at: number, extra = ''): void {
  const c = getCampaign(db, id);
  if (!from.includes(c.status)) {
    throw new MailroomError(
      ErrorCodes.VALIDATION,
      `campaign ${id} is ${c.status}; it can become ${to} only from ${from.join(' or ')}`,
    );
  }
  db.prepare(`UPDATE campaigns SET status = @to, updated_at = @at${extra} WHERE id = @id`).run({
    to,
    at,
    id,
  });
}

export function scheduleCampaign(db: Db, id: number, when: number, at: number): void {
  move(db, id, ['draft', 'scheduled'], 'scheduled', at);
  db.prepare('UPDATE campaigns SET scheduled_at = ? WHERE id = ?').run(when, id);
}

/** Starts now; the runner expands recipients and dispatches at the throttle. */
export function startCampaign(db: Db, id: number, at: number): void {
  move(db, id, ['draft', 'scheduled'], 'running', at, ', started_at = coalesce(started_at, @at)');
}

export function pauseCampaign(db: Db, id: number, at: number, reason = 'paused by the marketer'): void {
  move(db, id, ['running', 'scheduled'], 'paused', at);
  db.prepare('UPDATE campaigns SET paused_reason = ? WHERE id = ?').run(reason, id);
}

export function resumeCampaign(db: Db, id: number, at: number): void {
  move(db, id, ['paused'], 'running', at, ', paused_reason = NULL, started_at = coalesce(started_at, @at)');
}

/** Cancels: recipients not yet sent to are skipped for good. */
export function cancelCampaign(db: Db, id: number, at: number): void {
  db.transaction(() => {
    move(db, id, ['draft', 'scheduled', 'running', 'paused'], 'cancelled', at, ', finished_at = @at');
    db.prepare(
      `UPDATE campaign_sends SET status = 'skipped', error = 'campaign cancelled'
       WHERE campaign_id = ? AND status IN ('pending', 'queued')`,
    ).run(id);
  }).immediate();
}

/** The marketer's state changes by name, as the web routes take them. */
export type CampaignStateAction = 'start' | 'pause' | 'resume' | 'cancel';
export const CAMPAIGN_STATE_ACTIONS: readonly CampaignStateAction[] = ['start', 'pause', 'resume', 'cancel'];

export function changeCampaignState(db: Db, id: number, action: CampaignStateAction, at: number): void {
  ({ start: startCampaign, pause: pauseCampaign, resume: resumeCampaign, cancel: cancelCampaign })[action](
    db,
    id,
    at,
  );
}

export interface CampaignProgress {
  status: CampaignStatus;
  total: number;
  pending: number;
  queued: number;
  sent: number;
  failed: number;
  bounced: number;
  skipped: number;
  complaints: number;
  /**
   * Recipients who left, after this campaign reached them, what its unsubscribe link leaves (its
   * list, or every list), by link, List-Unsubscribe or mail, before a later campaign reached them:
   * each unsubscribe counts for the last campaign sent before it. Complaints are counted apart.
   */
  unsubscribed: number;
  bounceRate: number;
  complaintRate: number;
  /** Only when the campaign has tracking on: sends opened at least once (pixel loaded). */
  opens?: number;
  /** Only when the campaign has tracking on: sends with at least one tracked link clicked. */
  clicks?: number;
}

export function progress(db: Db, id: number): CampaignProgress {
  const c = getCampaign(db, id);
  return {
    ...sendCounts(db, id, c.status),
    unsubscribed: unsubscribedAfter(db, id),
    ...(c.tracking === 1 ? trackingCounts(db, id) : {}),
  };
}

/** The send-row counts alone: what the pause thresholds need, on the send path, cheaply. */
function sendCounts(
  db: Db,
  id: number,
  status: CampaignStatus,
): Omit<CampaignProgress, 'unsubscribed' | 'opens' | 'clicks'> {
  const counts = { pending: 0, queued: 0, sent: 0, failed: 0, bounced: 0, skipped: 0 };
  const rows = db
    .prepare('SELECT status, count(*) AS n FROM campaign_sends WHERE campaign_id = ? GROUP BY status')
    .all(id) as Array<{ status: keyof typeof counts; n: number }>;
  for (const r of rows) counts[r.status] = r.n;
  const complaints = (
    db
      .prepare('SELECT count(*) AS n FROM campaign_sends WHERE campaign_id = ? AND complained = 1')
      .get(id) as {
      n: number;
    }
  ).n;
  const delivered = counts.sent + counts.bounced;
  return {
    status,
    total: rows.reduce((s, r) => s + r.n, 0),
    ...counts,
    complaints,
    bounceRate: delivered ? counts.bounced / delivered : 0,
    complaintRate: delivered ? complaints / delivered : 0,
  };
}

/** See CampaignProgress.unsubscribed. The unsubscribe records are the consent log (list_consents). */
function unsubscribedAfter(db: Db, campaignId: number): number {
  return (
    prepareCached(
      db,
      `SELECT count(*) AS n FROM campaign_sends s
       WHERE s.campaign_id = ? AND s.sent_at IS NOT NULL AND s.subscriber_id IS NOT NULL
         AND EXISTS (
           SELECT 1 FROM list_consents u
           WHERE u.subscriber_id = s.subscriber_id AND u.action = 'unsubscribe' AND u.source != 'complaint'
             AND u.at >= s.sent_at AND (u.list_id IS NULL OR u.list_id = s.list_id)
             AND NOT EXISTS (
               SELECT 1 FROM campaign_sends later
               WHERE later.email = s.email AND later.id != s.id
                 AND later.sent_at > s.sent_at AND later.sent_at <= u.at))`,
    ).get(campaignId) as { n: number }
  ).n;
}

export function addNotice(db: Db, campaignId: number, kind: string, message: string, at: number): void {
  db.prepare('INSERT INTO campaign_notices (campaign_id, kind, message, at) VALUES (?, ?, ?, ?)').run(
    campaignId,
    kind,
    message,
    at,
  );
}

export function listNotices(
  db: Db,
  campaignId?: number,
): Array<{ id: number; campaign_id: number; kind: string; message: string; at: number }> {
  return (
    campaignId === undefined
      ? db.prepare('SELECT * FROM campaign_notices ORDER BY id DESC').all()
      : db.prepare('SELECT * FROM campaign_notices WHERE campaign_id = ? ORDER BY id DESC').all(campaignId)
  ) as Array<{ id: number; campaign_id: number; kind: string; message: string; at: number }>;
}

/**
 * Pauses a running campaign whose hard-bounce or complaint rate crossed its threshold (mailbox
 * providers throttle or block senders above ~0.3% complaints; stopping early protects the domain).
 */
export function checkThresholds(db: Db, id: number, minSample: number, at: number): boolean {
  const c = getCampaign(db, id);
  if (c.status !== 'running') return false;
  // The dispatcher asks on every tick: with no bounce and no complaint (both read from small index
  // ranges) no rate can be above a threshold, and counting every sent row can wait.
  const bad = prepareCached(
    db,
    `SELECT (SELECT count(*) FROM campaign_sends WHERE campaign_id = ? AND status = 'bounced')
          + (SELECT count(*) FROM campaign_sends WHERE campaign_id = ? AND complained = 1) AS n`,
  ).get(id, id) as { n: number };
  if (bad.n === 0) return false;
  const p = sendCounts(db, id, c.status);
  if (p.sent + p.bounced < minSample) return false;
  let reason: string | null = null;
  if (p.bounceRate > c.bounce_threshold)
    reason = `hard-bounce rate ${(p.bounceRate * 100).toFixed(2)}% is above ${(c.bounce_threshold * 100).toFixed(2)}%`;
  else if (p.complaintRate > c.complaint_threshold)
    reason = `complaint rate ${(p.complaintRate * 100).toFixed(3)}% is above ${(c.complaint_threshold * 100).toFixed(3)}%`;
  if (!reason) return false;
  pauseCampaign(db, id, at, `auto-paused: ${reason}`);
  addNotice(
    db,
    id,
    'auto_paused',
    `Campaign "${c.name}" was paused: ${reason}. Check the list's quality before resuming.`,
    at,
  );
  return true;
}
