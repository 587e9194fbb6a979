import { normaliseAddress } from '../customers/index.ts';
import { inTransaction } from '../store/index.ts';
import { parseArf } from './arf.ts';
import { checkThresholds } from './campaign-store.ts';
import { hashAddress, unsubscribeMemberships, upsertSubscriber } from './repo.ts';
import { type ListsDeps, settingsOf } from './types.ts';

export interface BounceInput {
  recipient: string;
  /** RFC 3463 status, e.g. 5.1.1. */
  status?: string;
  hard: boolean;
  /** Per-send token from the VERP Return-Path; ties the bounce to its campaign send row. */
  sendToken?: string | null;
}

export interface BounceResult {
  email: string | null;
  /** The address now gets no more marketing mail. */
  suppressed: boolean;
  sendId: number | null;
}

interface SendRef {
  id: number;
  email: string;
  campaign_id: number;
}

function findSend(deps: ListsDeps, token: string | null | undefined): SendRef | undefined {
  if (!token) return undefined;
  return deps.db
    .prepare('SELECT id, email, campaign_id FROM campaign_sends WHERE token = ?')
    .get(token.toLowerCase()) as SendRef | undefined;
}

/**
 * Records a bounce from a DSN (RFC 3464): a hard bounce suppresses the address at once; soft bounces
 * suppress it after `softBounceLimit` within `softBounceWindowMs` (a full mailbox for a month is as
 * good as gone). Auto-pauses the campaign when its hard-bounce rate crosses the threshold.
 */
export function applyBounce(deps: ListsDeps, input: BounceInput): BounceResult {
  const { db } = deps;
  const s = settingsOf(deps);
  const now = deps.clock.now();
  const send = findSend(deps, input.sendToken);
  const email = send?.email ?? normaliseAddress(input.recipient)?.email ?? null;
  if (!email) return { email: null, suppressed: false, sendId: null };
  const suppressed = inTransaction(db, () => {
    db.prepare('INSERT INTO list_bounces (email, kind, status, send_id, at) VALUES (?, ?, ?, ?, ?)').run(
      email,
      input.hard ? 'hard' : 'soft',
      input.status ?? null,
      send?.id ?? null,
      now,
    );
    let suppress = input.hard;
    if (!suppress) {
      const n = (
        db
          .prepare(`SELECT count(*) AS n FROM list_bounces WHERE email = ? AND kind = 'soft' AND at > ?`)
          .get(email, now - s.softBounceWindowMs) as { n: number }
      ).n;
      suppress = n >= s.softBounceLimit;
    }
    if (input.hard && send) {
      db.prepare(`UPDATE campaign_sends SET status = 'bounced', error = ? WHERE id = ?`).run(
        `bounce ${input.status ?? ''}`.trim(),
        send.id,
      );
    }
    if (suppress) {
      const sub = upsertSubscriber(db, { email }, now);
      db.prepare(
        `UPDATE subscribers SET status = 'bounced', updated_at = ? WHERE id = ? AND status = 'active'`,
      ).run(now, sub.id);
    }
    return suppress;
  });
  if (send) checkThresholds(db, send.campaign_id, s.thresholdMinSample, now);
  deps.logger.info({ sendId: send?.id ?? null, hard: input.hard, suppressed }, 'list bounce recorded');
  return { email, suppressed, sendId: send?.id ?? null };
}

export interface ComplaintInput {
  recipient?: string | null;
  sendToken?: string | null;
  feedbackType?: string;
}

/** A spam complaint (ARF): the address leaves every list at once and is counted against the campaign. */
export function applyComplaint(deps: ListsDeps, input: ComplaintInput): BounceResult {
  const { db } = deps;
  const now = deps.clock.now();
  const send = findSend(deps, input.sendToken);
  const email = send?.email ?? (input.recipient ? normaliseAddress(input.recipient)?.email : null) ?? null;
  if (!email) return { email: null, suppressed: false, sendId: null };
  inTransaction(db, () => {
    db.prepare(
      `INSERT INTO list_bounces (email, kind, status, send_id, at) VALUES (?, 'complaint', ?, ?, ?)`,
    ).run(email, input.feedbackType ?? 'abuse', send?.id ?? null, now);
    if (send) db.prepare('UPDATE campaign_sends SET complained = 1 WHERE id = ?').run(send.id);
    const erased = db
      .prepare('SELECT 1 FROM erased_addresses WHERE email_sha256 = ?')
      .get(hashAddress(email));
    if (!erased) {
      const sub = upsertSubscriber(db, { email }, now);
      unsubscribeMemberships(db, sub.id, null, 'complaint', now);
    }
  });
  if (send) checkThresholds(db, send.campaign_id, settingsOf(deps).thresholdMinSample, now);
  deps.logger.info({ sendId: send?.id ?? null }, 'list complaint recorded');
  return { email, suppressed: true, sendId: send?.id ?? null };
}

/**
 * For the ingest pipeline: applies an ARF report. Returns the addresses unsubscribed (none for a
 * `not-spam` report or a fully redacted one).
 */
export function applyArfReport(deps: ListsDeps, raw: string): string[] {
  const report = parseArf(raw);
  if (report.feedbackType === 'not-spam') return [];
  const done: string[] = [];
  if (report.sendToken && report.recipients.length === 0) {
    const r = applyComplaint(deps, { sendToken: report.sendToken, feedbackType: report.feedbackType });
    if (r.email) done.push(r.email);
  }
  for (const recipient of report.recipients) {
    const r = applyComplaint(deps, {
      recipient,
      sendToken: report.sendToken,
      feedbackType: report.feedbackType,
    });
    if (r.email) done.push(r.email);
  }
  return done;
}

export type SuppressionReason = 'bounced' | 'complained' | 'blocklisted' | 'erased' | null;

/**
 * What the lists know about an address, for outbound's shared suppression: marketing mail stops
 * for any reason here; transactional mail stops only for `bounced` and `erased`.
 */
export function suppressionReason(deps: Pick<ListsDeps, 'db'>, email: string): SuppressionReason {
  const addr = normaliseAddress(email)?.email;
  if (!addr) return null;
  const { db } = deps;
  if (db.prepare('SELECT 1 FROM erased_addresses WHERE email_sha256 = ?').get(hashAddress(addr)))
    return 'erased';
  const sub = db.prepare('SELECT status FROM subscribers WHERE email = ?').get(addr) as
    | { status: string }
    | undefined;
  if (sub?.status === 'bounced') return 'bounced';
  if (sub?.status === 'blocklisted') return 'blocklisted';
  if (db.prepare(`SELECT 1 FROM list_bounces WHERE email = ? AND kind = 'complaint'`).get(addr))
    return 'complained';
  return null;
}
