import { createHmac, timingSafeEqual } from 'node:crypto';
import { type Db, prepareCached } from '../store/index.ts';
import type { ListsDeps } from './types.ts';

/**
 * Open and click tracking for campaigns that have it switched on (off by default, per campaign).
 *
 * The per-send token (the one in the VERP Return-Path) names the campaign_sends row. Opens load
 * `/t/o/TOKEN.gif`; links go through `/t/c/TOKEN?u=URL&s=SIG`, where SIG is an HMAC over the token
 * AND the exact target URL, so the redirect only ever leads to a URL that was in that mail.
 * Only the send row, the kind, the clicked URL, first and last time and a count are stored.
 */

export type TrackingKind = 'open' | 'click';

const SEND_TOKEN = /^[0-9a-f]{20}$/;
const SIGNATURE = /^[0-9a-f]{32}$/;

function base(deps: Pick<ListsDeps, 'publicUrl'>): string {
  return deps.publicUrl.replace(/\/+$/, '');
}

/** HMAC binding a click link to its send token and its exact target. */
export function clickSignature(secret: string, token: string, url: string): string {
  return createHmac('sha256', secret).update(`click\0${token}\0${url}`).digest('hex').slice(0, 32);
}

export function verifyClickSignature(secret: string, token: string, url: string, sig: string): boolean {
  if (!SIGNATURE.test(sig)) return false;
  const want = Buffer.from(clickSignature(secret, token, url), 'hex');
  const got = Buffer.from(sig, 'hex');
  return want.length === got.length && timingSafeEqual(want, got);
}

export function openPixelUrl(deps: Pick<ListsDeps, 'publicUrl'>, token: string): string {
  return `${base(deps)}/t/o/${token}.gif`;
}

export function trackedLinkUrl(
  deps: Pick<ListsDeps, 'publicUrl' | 'secret'>,
  token: string,
  url: string,
): string {
  return `${base(deps)}/t/c/${token}?u=${encodeURIComponent(url)}&s=${clickSignature(deps.secret, token, url)}`;
}

/** The disclosure every tracked mail carries; the newsletter layouts show the same words. */
export const TRACKING_NOTES: Record<'en' | 'zh-CN' | 'zh-TW', string> = {
  en: 'This email records when it is opened and which links are clicked, to improve our newsletter.',
  'zh-CN': '这封邮件会记录您何时打开它以及点击了哪些链接，以帮助我们改进邮件通讯。',
  'zh-TW': '這封郵件會記錄您何時開啟它以及點擊了哪些連結，以協助我們改進電子報。',
};

/** Marks the note in a layout, so a template without it gets one added. */
export const TRACKING_NOTE_MARKER = 'data-mailroom-tracking-note';

function noteLocale(locale: string | null): keyof typeof TRACKING_NOTES {
  const l = (locale ?? '').toLowerCase();
  if (!l.startsWith('zh')) return 'en';
  return /^zh-(tw|hk|mo|hant)/.test(l) ? 'zh-TW' : 'zh-CN';
}

const KNOWN_ENTITY = /&(?:(amp|quot|apos|lt|gt)|#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6}));/g;
const NAMED: Record<string, string> = { amp: '&', quot: '"', apos: "'", lt: '<', gt: '>' };

/**
 * An href attribute value as the mail client reads it, or null when it holds a character reference
 * this does not decode (such a link is left as it is rather than redirected somewhere else).
 */
function decodeAttribute(value: string): string | null {
  const rest = value.replace(KNOWN_ENTITY, '');
  // `&name=` (a query string) stays literal in an attribute; any other `&name` may be a reference.
  if (/&#|&[A-Za-z][A-Za-z0-9]*(?![A-Za-z0-9=])/.test(rest)) return null;
  return value.replace(
    KNOWN_ENTITY,
    (_m, name: string | undefined, dec: string | undefined, hex: string | undefined) =>
      name
        ? (NAMED[name] as string)
        : String.fromCodePoint(Math.min(Number.parseInt(dec ?? hex ?? '0', hex ? 16 : 10), 0x10ffff)),
  );
}

const escAttr = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const ANCHOR = /<a\b[^>]*>/gi;
const HREF = /(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)')/i;

/** The http(s) links of the HTML, except the unsubscribe link and our own pages, through the click redirect. */
export function rewriteLinks(
  deps: Pick<ListsDeps, 'publicUrl' | 'secret'>,
  html: string,
  token: string,
  unsubscribeUrl: string,
): string {
  const own = base(deps);
  return html.replace(ANCHOR, (tag) =>
    tag.replace(HREF, (attr, prefix: string, dq: string | undefined, sq: string | undefined) => {
      const url = decodeAttribute((dq ?? sq ?? '').trim());
      if (url === null || !/^https?:\/\//i.test(url)) return attr;
      if (url === unsubscribeUrl || url.startsWith(`${own}/u/`) || url.startsWith(`${own}/t/`)) return attr;
      try {
        new URL(url);
      } catch {
        return attr;
      }
      return `${prefix}"${escAttr(trackedLinkUrl(deps, token, url))}"`;
    }),
  );
}

/** Inserts just before the last </body>, or at the very end of a fragment. */
function beforeBodyEnd(html: string, snippet: string): string {
  const end = html.toLowerCase().lastIndexOf('</body');
  return end === -1 ? `${html}\n${snippet}` : `${html.slice(0, end)}${snippet}\n${html.slice(end)}`;
}

const escText = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A tracked campaign mail: links rewritten, the open pixel at the end of the HTML, and the privacy
 * note added when the template's layout did not show it. The text part keeps its links.
 */
export function addTracking(
  deps: Pick<ListsDeps, 'publicUrl' | 'secret'>,
  mail: { html: string; text: string },
  opts: { token: string; unsubscribeUrl: string; locale: string | null },
): { html: string; text: string } {
  let html = rewriteLinks(deps, mail.html, opts.token, opts.unsubscribeUrl);
  let { text } = mail;
  if (!html.includes(TRACKING_NOTE_MARKER)) {
    const note = TRACKING_NOTES[noteLocale(opts.locale)];
    html = beforeBodyEnd(
      html,
      `<p ${TRACKING_NOTE_MARKER} style="font-size:12px;color:#71717a;">${escText(note)}</p>`,
    );
    if (!text.includes(note)) text = `${text}\n${note}\n`;
  }
  const pixel = `<img src="${escAttr(openPixelUrl(deps, opts.token))}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0;">`;
  return { html: beforeBodyEnd(html, pixel), text };
}

interface TrackedSend {
  id: number;
  campaign_id: number;
}

/**
 * The send row behind a token, only when its campaign has tracking on and the row still belongs to
 * someone: an erased address's old mail records nothing more.
 */
function trackedSend(db: Db, token: string): TrackedSend | undefined {
  if (!SEND_TOKEN.test(token)) return undefined;
  return prepareCached(
    db,
    `SELECT s.id, s.campaign_id FROM campaign_sends s JOIN campaigns c ON c.id = s.campaign_id
     WHERE s.token = ? AND c.tracking = 1 AND s.subscriber_id IS NOT NULL`,
  ).get(token) as TrackedSend | undefined;
}

function record(db: Db, send: TrackedSend, kind: TrackingKind, url: string, at: number): void {
  prepareCached(
    db,
    `INSERT INTO campaign_events (campaign_id, send_id, kind, url, at, last_at, count) VALUES (?, ?, ?, ?, ?, ?, 1)
     ON CONFLICT (send_id, kind, url) DO UPDATE SET count = count + 1, last_at = excluded.last_at`,
  ).run(send.campaign_id, send.id, kind, url, at, at);
}

/** Records an open for the send behind the token; false (and nothing stored) for an unknown token. */
export function recordOpen(deps: Pick<ListsDeps, 'db' | 'clock'>, token: string): boolean {
  const send = trackedSend(deps.db, token);
  if (!send) return false;
  record(deps.db, send, 'open', '', deps.clock.now());
  return true;
}

export type ClickResult =
  /** Signature good: redirect to the URL (recorded when the token names a tracked send). */
  { ok: true; url: string; recorded: boolean } | { ok: false };

/** Checks a click link's signature and records the click; only a signed http(s) URL is returned. */
export function recordClick(
  deps: Pick<ListsDeps, 'db' | 'clock' | 'secret'>,
  token: string,
  url: string,
  sig: string,
): ClickResult {
  if (!verifyClickSignature(deps.secret, token, url, sig)) return { ok: false };
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return { ok: false };
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return { ok: false };
  const send = trackedSend(deps.db, token);
  if (send) record(deps.db, send, 'click', url, deps.clock.now());
  return { ok: true, url: target.href, recorded: send !== undefined };
}

/** Unique opens and clicks (sends with at least one) of a campaign. */
export function trackingCounts(db: Db, campaignId: number): { opens: number; clicks: number } {
  const rows = prepareCached(
    db,
    'SELECT kind, count(DISTINCT send_id) AS n FROM campaign_events WHERE campaign_id = ? GROUP BY kind',
  ).all(campaignId) as Array<{ kind: TrackingKind; n: number }>;
  const out = { opens: 0, clicks: 0 };
  for (const r of rows) out[r.kind === 'open' ? 'opens' : 'clicks'] = r.n;
  return out;
}
