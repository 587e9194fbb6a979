import sanitizeHtml from 'sanitize-html';
import { isMailroomError } from '../../lib/index.ts';
import { allLists, type ListsDeps } from '../../lists/index.ts';
import { mailHtmlOptions } from '../conversation/sanitise.ts';

/**
 * The campaign composer's template preview: the chosen template rendered by the same renderer as
 * the campaign send, with one recipient's data — the template's sample.json, or the first
 * subscriber of the chosen list — in the shape the send gives it (name, email, attributes,
 * unsubscribeUrl, list, campaign).
 */

export type PreviewSource = 'sample' | 'subscriber';

export interface PreviewInput {
  template: string;
  listId: number | null;
  source: PreviewSource;
  /** Template locale for sample data; a subscriber's own locale wins for subscriber data. */
  locale: string;
  subject: string;
}

export interface PreviewResult {
  subject: string;
  /** Sanitised body HTML for the preview frame. */
  html: string;
  locale: string;
  /** Whose data it shows: sample.json, a subscriber (address shown to the marketer), or placeholders. */
  used: { kind: 'sample' | 'subscriber' | 'placeholder'; email?: string };
  /** The template has no visible unsubscribe link: the send adds one at the bottom. */
  unsubscribeAdded: boolean;
  /** Subscriber data was asked for, but the list has no confirmed active subscriber. */
  noSubscriber: boolean;
}

/** Loads a template's sample.json (outbound's renderer); throws when there is none. */
export type SampleFn = (template: string, locale: string) => Record<string, unknown>;

const PLACEHOLDER_EMAIL = 'reader@example.com';
const PLACEHOLDER_LIST = { name: 'Newsletter', slug: 'newsletter' };

/** The first confirmed, active member of the list (by when they joined the subscribers table). */
function firstSubscriber(
  deps: ListsDeps,
  listId: number | null,
): { email: string; name: string | null; locale: string | null; attributes: string } | undefined {
  if (listId === null) return undefined;
  return deps.db
    .prepare(
      `SELECT s.email, s.name, s.locale, s.attributes FROM list_memberships m
       JOIN subscribers s ON s.id = m.subscriber_id
       WHERE m.list_id = ? AND m.status = 'confirmed' AND s.status = 'active' ORDER BY s.id LIMIT 1`,
    )
    .get(listId) as
    | { email: string; name: string | null; locale: string | null; attributes: string }
    | undefined;
}

/** Renders the preview; a template that is missing or fails to render throws its MailroomError. */
export async function renderPreview(
  deps: ListsDeps,
  sample: SampleFn | undefined,
  input: PreviewInput,
): Promise<PreviewResult> {
  if (!deps.render) throw new Error('campaign templates are not wired in this installation');
  const lists = allLists(deps.db);
  const chosen = input.listId === null ? undefined : lists.find((l) => l.id === input.listId);
  // Campaign mail always names its list (the newsletter layout says why the reader gets it): with
  // none chosen, the sample's list, else the first list, else a stand-in.
  const fallback = lists[0] ? { name: lists[0].name, slug: lists[0].slug } : PLACEHOLDER_LIST;
  const listData = chosen ? { name: chosen.name, slug: chosen.slug } : fallback;
  // Not a working link: following it from a preview must not unsubscribe anybody.
  const unsubscribeUrl = `${deps.publicUrl.replace(/\/+$/, '')}/u/preview`;
  const campaign = { id: 0, name: input.subject || input.template, subject: input.subject, tracking: false };
  let data: Record<string, unknown> = {
    name: null,
    email: PLACEHOLDER_EMAIL,
    attributes: {},
    unsubscribeUrl,
    list: listData,
    campaign,
  };
  let locale = input.locale;
  let used: PreviewResult['used'] = { kind: 'placeholder' };
  const sub =
    input.source === 'subscriber' ? firstSubscriber(deps, chosen?.id ?? lists[0]?.id ?? null) : undefined;
  if (sub) {
    let attributes: unknown = {};
    try {
      attributes = JSON.parse(sub.attributes);
    } catch {}
    data = { ...data, name: sub.name, email: sub.email, attributes };
    locale = sub.locale ?? locale;
    used = { kind: 'subscriber', email: sub.email };
  } else if (sample) {
    try {
      const s = sample(input.template, locale);
      const sampleCampaign = (s.campaign ?? {}) as Record<string, unknown>;
      data = {
        ...data,
        ...s,
        // The composer's choices win over the sample's: the list picked and the subject typed.
        list: chosen ? listData : (s.list ?? listData),
        campaign: { ...campaign, ...sampleCampaign, ...(input.subject ? { subject: input.subject } : {}) },
      };
      used = { kind: 'sample' };
    } catch (e) {
      if (!isMailroomError(e)) throw e;
    }
  }
  const rendered = await deps.render(input.template, locale, data);
  const link = String(data.unsubscribeUrl ?? '');
  return {
    subject: input.subject || rendered.subject || '',
    html: sanitisePreview(rendered.html),
    locale,
    used,
    unsubscribeAdded: !link || !rendered.html.includes(link),
    noSubscriber: input.source === 'subscriber' && !sub,
  };
}

/**
 * Mail HTML for the preview frame: the template's own layout and inline styles stay (that is
 * what the preview is for), script, event handlers, forms, frames and <style> blocks go, links
 * open outside the frame. The frame's CSP and sandbox stop anything this misses.
 */
export function sanitisePreview(html: string): string {
  return sanitizeHtml(
    html,
    mailHtmlOptions({
      extraAttributes: {
        td: ['height', 'bgcolor'],
        th: ['height', 'bgcolor'],
        table: ['bgcolor', 'role'],
        '*': ['style'],
      },
      imgSchemes: ['https', 'data'],
    }),
  );
}

/** The frame's own policy: no script at all, the mail's inline styles, images from https only. */
export const PREVIEW_FRAME_CSP = [
  'sandbox allow-popups allow-popups-to-escape-sandbox',
  "default-src 'none'",
  'img-src https: data:',
  "style-src 'unsafe-inline'",
  "frame-ancestors 'self'",
  "form-action 'none'",
  "base-uri 'none'",
].join('; ');

export function previewDocument(body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><style>body{margin:0;padding:12px;background:#f4f4f5;font:14px/1.5 system-ui,sans-serif;word-wrap:break-word}img{max-width:100%}</style></head><body>${body}</body></html>`;
}
