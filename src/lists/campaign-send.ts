import { ErrorCodes, MailroomError, sha256Hex } from '../lib/index.ts';
import { RetryLaterError } from '../queue/index.ts';
import { prepareCached } from '../store/index.ts';
import { type CampaignRow, getCampaign } from './campaign-store.ts';
import { unsubscribeLinks } from './links.ts';
import { getList } from './repo.ts';
import { addTracking } from './tracking.ts';
import type { ListsDeps, OutgoingMail } from './types.ts';
import { bounceAddress } from './verp.ts';

interface SendRow {
  id: number;
  campaign_id: number;
  email: string;
  subscriber_id: number | null;
  list_id: number | null;
  token: string;
  status: string;
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
 * open/click tracking when the campaign has it on.
 */
export async function buildCampaignMail(
  deps: ListsDeps,
  campaign: CampaignRow,
  r: Recipient,
): Promise<OutgoingMail> {
  if (!deps.render) {
    throw new MailroomError(ErrorCodes.TEMPLATE_NOT_FOUND, 'campaigns need a template renderer');
  }
  const links = unsubscribeLinks(deps, r.listId, r.subscriberId, r.email);
  const list = r.listId === null ? undefined : getList(deps.db, r.listId);
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

/** Why this row must not be sent now, or null. Checked just before sending, so an unsubscribe wins. */
function recheck(deps: ListsDeps, row: SendRow): string | null {
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

export type SendOutcome = 'sent' | 'skipped' | 'not_running' | 'already_done';

/**
 * The queue job for one send row. Idempotent: only a `queued` row of a running campaign is sent,
 * and the row is marked `sent` right after the transport accepts it; a job run twice finds `sent`.
 */
export async function sendOne(deps: ListsDeps, sendId: number): Promise<SendOutcome> {
  const { db } = deps;
  const row = prepareCached(db, 'SELECT * FROM campaign_sends WHERE id = ?').get(sendId) as
    | SendRow
    | undefined;
  if (row?.status !== 'queued') return 'already_done';
  const campaign = getCampaign(db, row.campaign_id);
  if (campaign.status === 'paused' || campaign.status === 'scheduled') {
    // Keep the job (not an attempt) instead of completing it: queues dedupe a finished jobId for a
    // while, so a re-enqueue on resume could be dropped and the row left queued for ever.
    throw new RetryLaterError(`campaign ${campaign.id} is paused`, PAUSED_RETRY_MS);
  }
  if (campaign.status !== 'running') {
    db.prepare(
      `UPDATE campaign_sends SET status = 'skipped', error = ? WHERE id = ? AND status = 'queued'`,
    ).run(`campaign ${campaign.status}`, sendId);
    return 'not_running';
  }
  const skip = recheck(deps, row);
  if (skip) {
    db.prepare(`UPDATE campaign_sends SET status = 'skipped', error = ? WHERE id = ?`).run(skip, sendId);
    return 'skipped';
  }
  const sub = prepareCached(db, 'SELECT name, locale, attributes FROM subscribers WHERE id = ?').get(
    row.subscriber_id,
  ) as { name: string | null; locale: string | null; attributes: string };
  const mail = await buildCampaignMail(deps, campaign, {
    email: row.email,
    subscriberId: row.subscriber_id as number,
    listId: row.list_id,
    name: sub.name,
    locale: sub.locale,
    attributes: JSON.parse(sub.attributes) as Record<string, unknown>,
    token: row.token,
    sendId: row.id,
  });
  await deps.send(mail);
  prepareCached(db, `UPDATE campaign_sends SET status = 'sent', sent_at = ?, error = NULL WHERE id = ?`).run(
    deps.clock.now(),
    sendId,
  );
  return 'sent';
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
