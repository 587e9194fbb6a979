import { ErrorCodes, MailroomError, sha256Hex } from '../lib/index.ts';
import { RetryLaterError } from '../queue/index.ts';
import { prepareCached } from '../store/index.ts';
import { applyBounce } from './bounces.ts';
import { type CampaignRow, getCampaign } from './campaign-store.ts';
import { unsubscribeLinks } from './links.ts';
import { getList } from './repo.ts';
import { addTracking } from './tracking.ts';
import type { ListRow, ListsDeps, OutgoingMail, SendFn } from './types.ts';
import { bounceAddress } from './verp.ts';

/**
 * Sending a campaign batch: the recipients one dispatcher tick claimed for one campaign, sent by
 * the batch job itself.
 *
 * With a direct sender (see DirectListSender; mailroom's outbound side offers one on its list
 * SendFn) every mail is rendered, composed and handed to the pooled SMTP transport right here,
 * a few at a time so the pool stays busy, with the exactly-once discipline of the outbound send
 * job (src/outbound/send-job.ts) kept on the send row:
 *   - right before the last chunk of DATA, one commit records the mail in the outbox (status
 *     'sending', send_stage 'data_sent') and links it from the send row (outbox_id);
 *   - a process that dies before that commit never let the server see the end of DATA: the batch
 *     runs again and sends the row again;
 *   - after it, the server may have the mail: the batch run that finds the stage does NOT resend,
 *     it marks the outbox row 'uncertain' and the send row 'sent' (presumed delivered);
 *   - what the server answered rides along with the next stage commit (or commits on its own
 *     FLUSH_MS later, or at the end of the batch), so a mail costs about one commit. A crash in
 *     that short gap leaves a delivered mail 'uncertain', never a second copy.
 * Without one (tests, other composition roots) each mail goes through the SendFn, whose
 * idempotency key makes a repeated row a no-op in the outbox.
 *
 * Consent is checked again just before each mail is rendered, the campaign's state just before
 * each mail starts and again in the stage commit: an unsubscribe, a pause or a cancel takes effect
 * for the very next mail, even inside a batch.
 */

/** A list mail composed for SMTP: the exact bytes and the envelope. */
export interface ComposedListMail {
  messageId: string;
  from: string;
  to: string;
  subject: string;
  envelope: { from: string; to: string[] };
  raw: Buffer;
}

/** How one direct send ended. */
export type DirectOutcome =
  | { kind: 'sent'; response: string }
  /** The connection broke after the end of DATA and before the reply: the server may have it. */
  | { kind: 'uncertain'; response: string }
  /**
   * A definite temporary failure (a 4xx reply, or no reply before the end of DATA): the server
   * kept nothing, sending again is safe. `server`: the server or connection as a whole (421,
   * refused, timeout), so the batch waits; otherwise this recipient only.
   */
  | { kind: 'retry'; response: string; server: boolean }
  /** A definite permanent failure (5xx). `hardRecipient`: the address does not exist. */
  | {
      kind: 'failed';
      response: string;
      responseCode: number;
      command: string | undefined;
      hardRecipient: boolean;
    };

/** What an earlier attempt left in the outbox row a send row points at. */
export interface StagedState {
  status: string;
  stage: string;
  sentAt: number | null;
  updatedAt: number;
}

/**
 * Sending list mail without the outbound queue, for campaign batches. Offered by the outbound
 * side as `direct` on the lists' SendFn. The record functions are synchronous so they join the
 * caller's transaction (the outbox row and the send row commit together).
 */
export interface DirectListSender {
  /** Mails a batch keeps in flight at once (rendering and composing overlap the SMTP round trips). */
  readonly concurrency: number;
  compose(mail: OutgoingMail): Promise<ComposedListMail>;
  /**
   * Sends the composed mail through the pooled SMTP transport. `beforeLastChunk` runs right
   * before the server can see the end of DATA; when it throws, the end of DATA is never sent and
   * the result is a failure that did not stage.
   */
  deliver(mail: ComposedListMail, beforeLastChunk: () => void): Promise<DirectOutcome>;
  /**
   * Records the mail as handed over (outbox status 'sending', send_stage 'data_sent') under the
   * idempotency key and returns its outbox row (`staged`). A key whose last attempt failed is taken
   * over; any other row under the key (a mail in flight, queued for the outbound worker, sent or
   * presumed sent) is left as it is and returned with `staged: false`: this mail must not go.
   */
  stage(mail: ComposedListMail, idempotencyKey: string, now: number): { outboxId: number; staged: boolean };
  /** Records the outcome of a staged mail on its outbox row. */
  settle(outboxId: number, outcome: DirectOutcome, now: number): void;
  /** Records a mail refused for good before the end of DATA (its outbox row says 'failed'). */
  refused(mail: ComposedListMail, idempotencyKey: string, outcome: DirectOutcome, now: number): void;
  /** What an earlier attempt left in an outbox row; undefined when the row is gone. */
  staged(outboxId: number): StagedState | undefined;
  /** A staged row whose sender died before the reply: presumed delivered, never resent. */
  presumeDelivered(outboxId: number, why: string, now: number): void;
}

/** A SendFn that may offer direct sending (the composition root's list SendFn does). */
export type DirectCapableSendFn = SendFn & { direct?: DirectListSender };

export function directSenderOf(deps: ListsDeps): DirectListSender | null {
  return (deps.send as DirectCapableSendFn).direct ?? null;
}

interface Recipient {
  email: string;
  subscriberId: number;
  listId: number | null;
  name: string | null;
  locale: string | null;
  attributes: Record<string, unknown>;
  token: string;
  sendId: number | null;
}

const clean = (s: string): string => s.replace(/[\r\n]+/g, ' ');

/**
 * Renders one recipient's mail with List-Unsubscribe (RFC 2369), one-click (RFC 8058) and VERP, and
 * open/click tracking when the campaign has it on. `listCache` spares a batch one lookup per mail.
 */
export async function buildCampaignMail(
  deps: ListsDeps,
  campaign: CampaignRow,
  r: Recipient,
  listCache?: Map<number, ListRow | undefined>,
): Promise<OutgoingMail> {
  if (!deps.render) {
    throw new MailroomError(ErrorCodes.TEMPLATE_NOT_FOUND, 'campaigns need a template renderer');
  }
  const links = unsubscribeLinks(deps, r.listId, r.subscriberId, r.email);
  let list: ListRow | undefined;
  if (r.listId !== null) {
    if (listCache?.has(r.listId)) list = listCache.get(r.listId);
    else {
      list = getList(deps.db, r.listId);
      listCache?.set(r.listId, list);
    }
  }
  const rendered = await deps.render(campaign.template, r.locale ?? 'en', {
    name: r.name,
    email: r.email,
    attributes: r.attributes,
    unsubscribeUrl: links.url,
    list: list ? { name: list.name, slug: list.slug } : null,
    campaign: {
      id: campaign.id,
      name: campaign.name,
      subject: campaign.subject,
      tracking: campaign.tracking === 1,
    },
  });
  let { html, text } = rendered;
  // A visible unsubscribe link is required (bulk-sender rules); add one when the template forgot it.
  if (!text.includes(links.url)) text = `${text}\n\nUnsubscribe: ${links.url}\n`;
  if (!html.includes(links.url)) html = `${html}\n<p><a href="${links.url}">Unsubscribe</a></p>`;
  // Opt-in per campaign: pixel, signed click redirects and the privacy note; the text part keeps its links.
  if (campaign.tracking === 1)
    ({ html, text } = addTracking(
      deps,
      { html, text },
      { token: r.token, unsubscribeUrl: links.url, locale: r.locale },
    ));
  const headers: Record<string, string> = {
    ...links.headers,
    Precedence: 'bulk',
    'X-Mailroom-Campaign': String(campaign.id),
  };
  if (list)
    headers['List-Id'] = `${clean(list.name).replace(/[<>"]/g, '')} <${list.slug}.${deps.mailDomain}>`;
  return {
    to: r.email,
    // The subject the marketer wrote for this campaign; the template's only when there is none.
    subject: clean(campaign.subject.trim() || (rendered.subject ?? '')),
    html,
    text,
    headers,
    envelopeFrom: bounceAddress(r.token, deps.mailDomain),
    idempotencyKey:
      r.sendId === null ? `campaign-test-${campaign.id}-${r.token}` : `campaign-send-${r.sendId}`,
  };
}

interface ConsentRow {
  email: string;
  subscriber_id: number | null;
  list_id: number | null;
}

/** Why this row must not be sent now, or null. Checked just before sending, so an unsubscribe wins. */
function recheck(deps: ListsDeps, row: ConsentRow): string | null {
  const { db } = deps;
  if (prepareCached(db, 'SELECT 1 FROM erased_addresses WHERE email_sha256 = ?').get(sha256Hex(row.email)))
    return 'erased';
  if (row.subscriber_id === null) return 'erased';
  const sub = prepareCached(db, 'SELECT status, unsubscribed_all_at FROM subscribers WHERE id = ?').get(
    row.subscriber_id,
  ) as { status: string; unsubscribed_all_at: number | null } | undefined;
  if (!sub) return 'erased';
  if (sub.status !== 'active') return sub.status;
  if (row.list_id === null) {
    if (sub.unsubscribed_all_at !== null) return 'unsubscribed';
  } else {
    const m = prepareCached(
      db,
      'SELECT status FROM list_memberships WHERE list_id = ? AND subscriber_id = ?',
    ).get(row.list_id, row.subscriber_id) as { status: string } | undefined;
    if (m?.status !== 'confirmed') return 'unsubscribed';
  }
  if (deps.isSuppressed?.(row.email)) return 'suppressed';
  return null;
}

const PAUSED_RETRY_MS = 5000;
/** Tries per recipient after temporary SMTP failures (the outbound queue's default attempts). */
export const MAX_SEND_ATTEMPTS = 8;
const AFTER_CRASH = 'stopped after DATA was handed over; presumed delivered, not resent';

/** Before try number attempts+1 after a temporary failure: 1 s doubling, at most 10 minutes. */
function retryDelay(attempts: number): number {
  return Math.min(1000 * 2 ** Math.max(0, attempts - 1), 600_000);
}

/** What a batch job carries: its batch number (or, from before batches, one send row). */
export interface SendJobData {
  batch?: number;
  sendId?: number;
}

export interface BatchResult {
  sent: number;
  skipped: number;
  failed: number;
  uncertain: number;
  deferred: number;
}

interface BatchRow extends ConsentRow {
  id: number;
  campaign_id: number;
  token: string;
  status: string;
  outbox_id: number | null;
  attempts: number;
  name: string | null;
  locale: string | null;
  attributes: string | null;
}

const ROW_COLUMNS = `s.id, s.campaign_id, s.email, s.subscriber_id, s.list_id, s.token, s.status, s.outbox_id,
  s.attempts, sub.name, sub.locale, sub.attributes`;

function loadRows(deps: ListsDeps, ref: SendJobData): BatchRow[] {
  if (ref.batch !== undefined)
    return prepareCached(
      deps.db,
      `SELECT ${ROW_COLUMNS} FROM campaign_sends s LEFT JOIN subscribers sub ON sub.id = s.subscriber_id
       WHERE s.batch = ? AND s.status = 'queued' ORDER BY s.id`,
    ).all(ref.batch) as BatchRow[];
  if (ref.sendId !== undefined)
    return prepareCached(
      deps.db,
      `SELECT ${ROW_COLUMNS} FROM campaign_sends s LEFT JOIN subscribers sub ON sub.id = s.subscriber_id
       WHERE s.id = ? AND s.status = 'queued'`,
    ).all(ref.sendId) as BatchRow[];
  return [];
}

/**
 * One change to a send row, waiting for the next group commit; `outbox` records the same attempt's
 * outcome on its outbox row in that commit.
 */
type Mark =
  | { kind: 'sent'; id: number; at: number; outbox?: () => void }
  | { kind: 'skipped' | 'failed'; id: number; error: string; outbox?: () => void }
  | { kind: 'attempt'; id: number; attempts: number; outbox?: () => void }
  | { kind: 'deferred'; id: number; attempts: number; notBefore: number; outbox?: () => void };

function applyMark(deps: ListsDeps, m: Mark): void {
  const { db } = deps;
  m.outbox?.();
  switch (m.kind) {
    case 'sent':
      // Whatever the row says by now (a cancel may have skipped it meanwhile), the mail went out.
      prepareCached(
        db,
        `UPDATE campaign_sends SET status = 'sent', sent_at = ?, error = NULL, not_before = NULL WHERE id = ?`,
      ).run(m.at, m.id);
      return;
    case 'skipped':
    case 'failed':
      prepareCached(
        db,
        `UPDATE campaign_sends SET status = ?, error = ? WHERE id = ? AND status = 'queued'`,
      ).run(m.kind, m.error.slice(0, 300), m.id);
      return;
    case 'attempt':
      prepareCached(db, 'UPDATE campaign_sends SET attempts = ? WHERE id = ?').run(m.attempts, m.id);
      return;
    case 'deferred':
      prepareCached(
        db,
        `UPDATE campaign_sends SET status = 'pending', batch = NULL, attempts = ?, not_before = ?
         WHERE id = ? AND status = 'queued'`,
      ).run(m.attempts, m.notBefore, m.id);
      return;
  }
}

const campaignStatus = (deps: ListsDeps, id: number): string | undefined =>
  (
    prepareCached(deps.db, 'SELECT status FROM campaigns WHERE id = ?').get(id) as
      | { status: string }
      | undefined
  )?.status;

function recipientOf(row: BatchRow): Recipient {
  return {
    email: row.email,
    subscriberId: row.subscriber_id as number,
    listId: row.list_id,
    name: row.name,
    locale: row.locale,
    attributes: JSON.parse(row.attributes ?? '{}') as Record<string, unknown>,
    token: row.token,
    sendId: row.id,
  };
}

/**
 * Group commit of send outcomes, one per database (every batch of the process shares it): a mark
 * waits for the next stage commit (it rides along) or FLUSH_MS, whichever comes first, so a mail
 * costs about one commit. It leaves the list only once committed. A crash in that gap leaves an
 * accepted mail at its data_sent stage: the next run presumes it delivered (uncertain), never
 * sends it again.
 */
const FLUSH_MS = 5;
interface Recorder {
  add(m: Mark): void;
  /** The marks a stage commit should write along; report them with committed() once it did. */
  pending(): Mark[];
  committed(n: number): void;
  /** Commits every pending mark now. */
  flush(): void;
}
const recorders = new WeakMap<object, Recorder>();
function recorderOf(deps: ListsDeps): Recorder {
  const known = recorders.get(deps.db);
  if (known) return known;
  const marks: Mark[] = [];
  const commit = deps.db.transaction((batch: Mark[]) => {
    for (const m of batch) applyMark(deps, m);
  });
  let timer: NodeJS.Timeout | null = null;
  const rec: Recorder = {
    add(m) {
      marks.push(m);
      timer ??= setTimeout(() => {
        timer = null;
        try {
          rec.flush();
        } catch (e) {
          // Kept: the next stage commit, flush or batch end tries again.
          deps.logger.warn({ err: e }, 'could not record campaign send outcomes; will retry');
        }
      }, FLUSH_MS);
    },
    pending: () => marks.slice(),
    committed(n) {
      marks.splice(0, n);
      if (marks.length === 0 && timer) {
        clearTimeout(timer);
        timer = null;
      }
    },
    flush() {
      if (marks.length === 0) return;
      const batch = marks.slice();
      commit.immediate(batch);
      rec.committed(batch.length);
    },
  };
  recorders.set(deps.db, rec);
  return rec;
}

/**
 * The queue job of one campaign batch. Idempotent: only `queued` rows are looked at, a row whose
 * earlier attempt staged the end of DATA is settled without sending, and each row's outcome is
 * committed before the job completes. Throws RetryLaterError (the job runs again later, no attempt
 * counted) while the campaign is paused, after a server-wide temporary failure, or when rows were
 * left queued for another reason, so a completed job never leaves a queued row behind.
 */
export async function sendBatch(deps: ListsDeps, ref: SendJobData): Promise<BatchResult> {
  const result: BatchResult = { sent: 0, skipped: 0, failed: 0, uncertain: 0, deferred: 0 };
  const rows = loadRows(deps, ref);
  const byCampaign = new Map<number, BatchRow[]>();
  for (const r of rows) {
    const group = byCampaign.get(r.campaign_id);
    if (group) group.push(r);
    else byCampaign.set(r.campaign_id, [r]);
  }
  let retryIn: number | null = null;
  for (const [campaignId, group] of byCampaign) {
    const campaign = getCampaign(deps.db, campaignId);
    if (campaign.status === 'paused' || campaign.status === 'scheduled') {
      // Keep the job (not an attempt) instead of completing it: queues dedupe a finished jobId for a
      // while, so a re-enqueue on resume could be dropped and the rows left queued for ever.
      retryIn = Math.max(retryIn ?? 0, PAUSED_RETRY_MS);
      continue;
    }
    if (campaign.status !== 'running') {
      const skip = deps.db.prepare(
        `UPDATE campaign_sends SET status = 'skipped', error = ? WHERE id = ? AND status = 'queued'`,
      );
      deps.db
        .transaction(() => {
          for (const r of group) result.skipped += skip.run(`campaign ${campaign.status}`, r.id).changes;
        })
        .immediate();
      continue;
    }
    const direct = directSenderOf(deps);
    const wait = direct
      ? await runDirect(deps, direct, campaign, group, result)
      : await runThroughSend(deps, campaign, group, result);
    if (wait !== null) retryIn = Math.max(retryIn ?? 0, wait);
  }
  // A row refused at its stage commit because another run had staged it is settled by the next run.
  if (retryIn === null && loadRows(deps, ref).length > 0) retryIn = 1000;
  if (retryIn !== null) {
    throw new RetryLaterError(
      `campaign batch ${ref.batch ?? ref.sendId}: rows left for a later run (${JSON.stringify(result)})`,
      retryIn,
    );
  }
  return result;
}

/** Without a direct sender: one mail at a time through the SendFn (the outbox dedupes by key). */
async function runThroughSend(
  deps: ListsDeps,
  campaign: CampaignRow,
  rows: BatchRow[],
  result: BatchResult,
): Promise<number | null> {
  const listCache = new Map<number, ListRow | undefined>();
  for (const row of rows) {
    const status = campaignStatus(deps, campaign.id);
    if (status === 'paused' || status === 'scheduled') return PAUSED_RETRY_MS;
    if (status !== 'running') {
      applyMark(deps, { kind: 'skipped', id: row.id, error: `campaign ${status}` });
      result.skipped++;
      continue;
    }
    const skip = recheck(deps, row);
    if (skip) {
      applyMark(deps, { kind: 'skipped', id: row.id, error: skip });
      result.skipped++;
      continue;
    }
    const mail = await buildCampaignMail(deps, campaign, recipientOf(row), listCache);
    await deps.send(mail);
    applyMark(deps, { kind: 'sent', id: row.id, at: deps.clock.now() });
    result.sent++;
  }
  return null;
}

/** With a direct sender: see the top of this file. Returns ms to wait before the rest, or null. */
async function runDirect(
  deps: ListsDeps,
  direct: DirectListSender,
  campaign: CampaignRow,
  rows: BatchRow[],
  result: BatchResult,
): Promise<number | null> {
  const { db } = deps;
  const log = deps.logger.child({ component: 'campaigns', campaign: campaign.id });

  const rec = recorderOf(deps);
  const mark = (m: Mark) => rec.add(m);
  const flush = () => rec.flush();

  // Rows linked to an outbox row by an earlier attempt: settled from it, never sent again unless
  // that attempt failed for sure. Our own attempts stage straight at data_sent, so a row 'queued'
  // or 'sending' before that stage is the outbound worker's (a send handed over by an older
  // mailroom): it sends that mail once, and the send row counts it as sent, as it did then.
  const todo: BatchRow[] = [];
  db.transaction(() => {
    const now = deps.clock.now();
    for (const row of rows) {
      const st = row.outbox_id === null ? undefined : direct.staged(row.outbox_id);
      if (!st || st.status === 'failed') {
        todo.push(row);
        continue;
      }
      if (st.status === 'suppressed') {
        applyMark(deps, { kind: 'skipped', id: row.id, error: 'suppressed' });
        result.skipped++;
        continue;
      }
      if (st.status === 'sending' && st.stage === 'data_sent') {
        direct.presumeDelivered(row.outbox_id as number, AFTER_CRASH, now);
        log.warn(
          { sendId: row.id, outboxId: row.outbox_id },
          'send outcome unknown after a crash: not resending',
        );
        result.uncertain++;
      }
      applyMark(deps, { kind: 'sent', id: row.id, at: st.sentAt ?? st.updatedAt });
    }
  }).immediate();

  // The stage commit, right before the last chunk of DATA: earlier outcomes, then the outbox row
  // and its link, if the campaign still runs and the row is still ours. Returns why not, or null.
  const rowQueued = prepareCached(db, `SELECT status FROM campaign_sends WHERE id = ?`);
  const link = prepareCached(db, 'UPDATE campaign_sends SET outbox_id = ? WHERE id = ?');
  const stageTx = db.transaction(
    (row: BatchRow, mail: ComposedListMail, pendingMarks: Mark[]): 'paused' | 'gone' | 'taken' | null => {
      for (const m of pendingMarks) applyMark(deps, m);
      const status = campaignStatus(deps, campaign.id);
      if (status === 'paused' || status === 'scheduled') return 'paused';
      if (status !== 'running') return 'gone';
      if ((rowQueued.get(row.id) as { status: string } | undefined)?.status !== 'queued') return 'gone';
      const { outboxId, staged } = direct.stage(mail, `campaign-send-${row.id}`, deps.clock.now());
      // Linked either way: a row whose key another mail holds is settled from that mail's outbox
      // row by the next run of the batch.
      link.run(outboxId, row.id);
      row.outbox_id = outboxId;
      return staged ? null : 'taken';
    },
  );

  let stop: number | null = null;
  const listCache = new Map<number, ListRow | undefined>();
  let next = 0;

  async function sendRow(row: BatchRow): Promise<void> {
    const status = campaignStatus(deps, campaign.id);
    if (status === 'paused' || status === 'scheduled') {
      stop = Math.max(stop ?? 0, PAUSED_RETRY_MS);
      return;
    }
    if (status !== 'running') {
      mark({ kind: 'skipped', id: row.id, error: `campaign ${status}` });
      result.skipped++;
      return;
    }
    const skip = recheck(deps, row);
    if (skip) {
      mark({ kind: 'skipped', id: row.id, error: skip });
      result.skipped++;
      return;
    }
    let composed: ComposedListMail;
    try {
      composed = await direct.compose(await buildCampaignMail(deps, campaign, recipientOf(row), listCache));
    } catch (e) {
      // A template or header that cannot be rendered for this recipient will not render next time.
      const error = e instanceof Error ? e.message : String(e);
      log.warn({ sendId: row.id, err: error }, 'campaign mail could not be built');
      mark({ kind: 'failed', id: row.id, error });
      result.failed++;
      return;
    }
    let refused: 'paused' | 'gone' | 'taken' | null = null;
    let staged = false;
    const outcome = await direct.deliver(composed, () => {
      const pendingMarks = rec.pending();
      refused = stageTx.immediate(row, composed, pendingMarks);
      rec.committed(pendingMarks.length);
      if (refused) throw new Error(`not staged: ${refused}`);
      staged = true;
    });
    const at = deps.clock.now();
    if (refused === 'paused') {
      stop = Math.max(stop ?? 0, PAUSED_RETRY_MS);
      return;
    }
    // 'gone': cancelled or settled meanwhile; 'taken': another run staged it, the next run settles it.
    if (refused) return;
    const outboxId = row.outbox_id as number;
    const key = `campaign-send-${row.id}`;
    switch (outcome.kind) {
      case 'sent':
      case 'uncertain':
        if (outcome.kind === 'uncertain') {
          log.warn({ sendId: row.id }, 'connection lost after DATA: presumed delivered, not resending');
          result.uncertain++;
        } else result.sent++;
        // Only a staged mail can reach the server's acceptance (the stage precedes the end of DATA).
        mark({
          kind: 'sent',
          id: row.id,
          at,
          ...(staged ? { outbox: () => direct.settle(outboxId, outcome, at) } : {}),
        });
        return;
      case 'failed': {
        mark({
          kind: 'failed',
          id: row.id,
          error: outcome.response,
          outbox: staged
            ? () => direct.settle(outboxId, outcome, at)
            : () => direct.refused(composed, key, outcome, at),
        });
        result.failed++;
        if (outcome.hardRecipient) {
          // Refused at RCPT TO: a bounce at send time. The row becomes 'bounced', the address
          // leaves every list, and the campaign's bounce rate sees it (auto-pause).
          flush();
          applyBounce(deps, {
            recipient: row.email,
            status: /\b(5\.\d{1,3}\.\d{1,3})\b/.exec(outcome.response)?.[1] ?? '5.0.0',
            hard: true,
            sendToken: row.token,
          });
        }
        return;
      }
      case 'retry': {
        const outbox = staged ? () => direct.settle(outboxId, outcome, at) : undefined;
        const attempts = row.attempts + 1;
        row.attempts = attempts;
        if (attempts >= MAX_SEND_ATTEMPTS) {
          mark({
            kind: 'failed',
            id: row.id,
            error: `${outcome.response} (after ${attempts} tries)`,
            ...(outbox ? { outbox } : {}),
          });
          result.failed++;
        } else if (outcome.server) {
          // The server as a whole: this row stays in the batch, the batch waits.
          mark({ kind: 'attempt', id: row.id, attempts, ...(outbox ? { outbox } : {}) });
          stop = Math.max(stop ?? 0, retryDelay(attempts));
          log.info(
            { sendId: row.id, attempts, err: outcome.response },
            'SMTP server unavailable; batch waits',
          );
        } else {
          const notBefore = at + retryDelay(attempts);
          mark({ kind: 'deferred', id: row.id, attempts, notBefore, ...(outbox ? { outbox } : {}) });
          result.deferred++;
        }
        return;
      }
    }
  }

  const lane = async () => {
    while (stop === null && next < todo.length) await sendRow(todo[next++] as BatchRow);
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(direct.concurrency, todo.length)) }, lane));
  } finally {
    flush();
  }
  if (result.sent + result.failed + result.skipped + result.uncertain > 0)
    log.debug({ ...result }, 'campaign batch done');
  return stop;
}

/** A test send to the given addresses: same rendering and headers, subject marked [TEST], no send rows. */
export async function testSend(deps: ListsDeps, campaignId: number, addresses: string[]): Promise<number> {
  const campaign = getCampaign(deps.db, campaignId);
  const listIds = JSON.parse(campaign.list_ids) as number[];
  let n = 0;
  for (const email of addresses) {
    const mail = await buildCampaignMail(deps, campaign, {
      email,
      subscriberId: 0,
      listId: listIds[0] ?? null,
      name: null,
      locale: null,
      attributes: {},
      token: `${Date.now().toString(16)}${n}`.padEnd(20, '0').slice(0, 20),
      sendId: null,
    });
    await deps.send({ ...mail, subject: `[TEST] ${mail.subject}` });
    n++;
  }
  return n;
}
