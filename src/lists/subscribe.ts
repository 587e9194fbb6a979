import { ErrorCodes, MailroomError } from '../lib/index.ts';
import { inTransaction } from '../store/index.ts';
import { confirmationMail, welcomeMail } from './builtin-mail.ts';
import { confirmUrl, unsubscribeLinks } from './links.ts';
import { consentWordingFor } from './locale.ts';
import {
  findSubscriber,
  getList,
  getListBySlug,
  getMembership,
  getSubscriber,
  isErased,
  normaliseEmail,
  recordConsent,
  setMembership,
  upsertSubscriber,
} from './repo.ts';
import { readToken, verifyToken } from './tokens.ts';
import type { ConsentSource, ListRow, ListsDeps, SubscriberRow } from './types.ts';

export interface SubscribeInput {
  slug: string;
  email: string;
  name?: string | null;
  locale?: string | null;
  /**
   * The language the consent wording was shown in (the subscribe form's language): picks the
   * wording recorded as consent. Defaults to `locale`; the list's default wording when the list has
   * no translation for it.
   */
  wordingLocale?: string | null;
  attributes?: Record<string, unknown>;
  source: ConsentSource;
  ip?: string | null;
  userAgent?: string | null;
}

/**
 * What happened, for logs and tests only. The web layer answers every outcome with the same neutral
 * page, so the response never reveals whether an address is already on the list.
 */
const RESEND_AFTER_MS = 15 * 60_000;

export type SubscribeOutcome = 'confirmation_sent' | 'confirmed' | 'already_confirmed' | 'ignored';

export async function subscribe(deps: ListsDeps, input: SubscribeInput): Promise<SubscribeOutcome> {
  const { db, clock } = deps;
  const list = getListBySlug(db, input.slug);
  if (!list || (!list.public && input.source === 'form')) {
    throw new MailroomError(ErrorCodes.NOT_FOUND, `there is no list "${input.slug}"`);
  }
  const email = normaliseEmail(input.email);
  const now = clock.now();
  // An erased address keeps only its hash so it is never mailed again; blocklisted and bounced
  // addresses get no mail either. The caller still sees the neutral answer.
  if (isErased(db, email)) return 'ignored';

  const result = inTransaction(db, (): { outcome: SubscribeOutcome; sub: SubscriberRow } => {
    const sub = upsertSubscriber(
      db,
      { email, name: input.name ?? null, locale: input.locale ?? null, attributes: input.attributes ?? {} },
      now,
    );
    if (sub.status !== 'active') return { outcome: 'ignored', sub };
    const m = getMembership(db, list.id, sub.id);
    if (m?.status === 'confirmed') return { outcome: 'already_confirmed', sub };
    const meta = { ip: input.ip ?? null, userAgent: input.userAgent ?? null };
    const shown = consentWordingFor(list, input.wordingLocale ?? input.locale);
    if (list.optin === 'single') {
      setMembership(db, list.id, sub.id, 'confirmed', now);
      recordConsent(db, {
        subscriberId: sub.id,
        listId: list.id,
        action: 'confirm',
        source: input.source,
        wording: shown.wording,
        locale: shown.locale,
        at: now,
        ...meta,
      });
      if (sub.unsubscribed_all_at !== null)
        db.prepare('UPDATE subscribers SET unsubscribed_all_at = NULL WHERE id = ?').run(sub.id);
      return { outcome: 'confirmed', sub };
    }
    // A form anyone can post to must not become a way to flood someone's mailbox: one
    // confirmation mail per address and list per RESEND_AFTER_MS.
    if (m?.status === 'pending' && m.requested_at > now - RESEND_AFTER_MS) return { outcome: 'ignored', sub };
    // Double opt-in: also after an unsubscribe, joining again needs a new confirmation.
    setMembership(db, list.id, sub.id, 'pending', now);
    recordConsent(db, {
      subscriberId: sub.id,
      listId: list.id,
      action: 'request',
      source: input.source,
      wording: shown.wording,
      locale: shown.locale,
      at: now,
      ...meta,
    });
    return { outcome: 'confirmation_sent', sub };
  });

  if (result.outcome === 'confirmation_sent') await sendConfirmation(deps, list, result.sub);
  else if (result.outcome === 'confirmed' && list.welcome) await sendWelcome(deps, list, result.sub);
  deps.logger.info({ list: list.slug, subscriber: result.sub.id, outcome: result.outcome }, 'list subscribe');
  return result.outcome;
}

export async function sendConfirmation(deps: ListsDeps, list: ListRow, sub: SubscriberRow): Promise<void> {
  const url = confirmUrl(deps, list.id, sub.id, sub.email);
  const mail = confirmationMail(list, sub.locale ?? list.default_locale, url);
  await deps.send({
    to: sub.email,
    ...mail,
    headers: { 'Auto-Submitted': 'auto-generated' },
    idempotencyKey: `list-confirm-${list.id}-${sub.id}-${deps.clock.now()}`,
  });
}

async function sendWelcome(deps: ListsDeps, list: ListRow, sub: SubscriberRow): Promise<void> {
  const links = unsubscribeLinks(deps, list.id, sub.id, sub.email);
  const mail = welcomeMail(list, sub.locale ?? list.default_locale, links.url);
  await deps.send({
    to: sub.email,
    ...mail,
    headers: { ...links.headers, 'Auto-Submitted': 'auto-generated' },
    idempotencyKey: `list-welcome-${list.id}-${sub.id}`,
  });
}

export interface ConfirmResult {
  list: ListRow;
  email: string;
  /** The subscriber's stored language, for the page that answers the click. */
  locale: string | null;
  /** False when the link was used before: still a success for the person clicking it. */
  changed: boolean;
}

/** Confirms a double opt-in from the link in the confirmation mail and records the consent. */
export async function confirmSubscription(
  deps: ListsDeps,
  token: string,
  meta: { ip?: string | null; userAgent?: string | null },
): Promise<ConfirmResult> {
  const { db, clock } = deps;
  const claims = readToken(token);
  const sub = getSubscriber(db, claims.subscriberId);
  const list = getList(db, claims.listId);
  if (!sub || !list) {
    throw new MailroomError(ErrorCodes.TOKEN_INVALID, 'this link is not valid; use the link from the mail');
  }
  verifyToken(deps.secret, token, sub.email, 'confirm', clock.now());
  const now = clock.now();
  const changed = inTransaction(db, () => {
    const m = getMembership(db, list.id, sub.id);
    if (m?.status === 'confirmed') return false;
    // An unsubscribe after the request wins over an old confirmation link.
    if (m?.status !== 'pending' || sub.status !== 'active') {
      throw new MailroomError(
        ErrorCodes.TOKEN_INVALID,
        'this confirmation link is no longer valid; subscribe again to get a new one',
      );
    }
    const request = db
      .prepare(
        `SELECT source, wording, locale FROM list_consents WHERE subscriber_id = ? AND list_id = ? AND action = 'request'
         ORDER BY at DESC, id DESC LIMIT 1`,
      )
      .get(sub.id, list.id) as
      | { source: ConsentSource; wording: string | null; locale: string | null }
      | undefined;
    setMembership(db, list.id, sub.id, 'confirmed', now);
    db.prepare('UPDATE subscribers SET unsubscribed_all_at = NULL, updated_at = ? WHERE id = ?').run(
      now,
      sub.id,
    );
    recordConsent(db, {
      subscriberId: sub.id,
      listId: list.id,
      action: 'confirm',
      source: request?.source ?? 'form',
      // The confirmation repeats the wording the request was shown with, in its language.
      wording: request?.wording ?? list.consent_wording,
      locale: request?.wording ? request.locale : list.default_locale,
      ip: meta.ip ?? null,
      userAgent: meta.userAgent ?? null,
      at: now,
    });
    return true;
  });
  if (changed && list.welcome) await sendWelcome(deps, list, sub);
  deps.logger.info({ list: list.slug, subscriber: sub.id, changed }, 'list subscription confirmed');
  return { list, email: sub.email, locale: sub.locale, changed };
}

export { findSubscriber };
