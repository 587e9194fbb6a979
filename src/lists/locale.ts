import { ErrorCodes, MailroomError } from '../lib/index.ts';
import type { ListRow } from './types.ts';

/**
 * The languages the public list pages, the built-in list mail and consent wordings come in.
 * Traditional Chinese covers Taiwan, Hong Kong and Macau (zh-TW, zh-HK, zh-MO, zh-Hant); every other
 * Chinese tag reads Simplified (zh, zh-CN, zh-SG, zh-Hans).
 */
export const LIST_LOCALES = ['en', 'zh-CN', 'zh-TW'] as const;
export type ListLocale = (typeof LIST_LOCALES)[number];

/** A language tag (BCP 47, any case, `_` or `-`) as one of LIST_LOCALES; null when none fits. */
export function listLocale(tag: string | null | undefined): ListLocale | null {
  const t = (tag ?? '').trim().replace(/_/g, '-').toLowerCase();
  if (!t) return null;
  if (t === 'zh' || t.startsWith('zh-')) {
    // The script subtag decides when there is one (zh-Hans-HK is Simplified), else the region.
    if (/-hans\b/.test(t)) return 'zh-CN';
    return /-(hant|tw|hk|mo)\b/.test(t) ? 'zh-TW' : 'zh-CN';
  }
  if (t === 'en' || t.startsWith('en-')) return 'en';
  return null;
}

/**
 * The best of LIST_LOCALES for an Accept-Language header (RFC 9110 12.5.4): entries by quality,
 * highest first, ties in header order; `q=0` means "not this one". Null when no entry fits (the
 * caller falls back to the list's default language).
 */
export function localeFromAcceptLanguage(header: string | string[] | null | undefined): ListLocale | null {
  const raw = Array.isArray(header) ? header.join(',') : (header ?? '');
  const entries = raw
    .slice(0, 1000)
    .split(',')
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p)?.[1]).find((v) => v !== undefined);
      const quality = q === undefined ? 1 : Number(q);
      return { tag: tag.trim(), q: Number.isFinite(quality) ? quality : 0, i };
    })
    .filter((e) => e.tag && e.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const e of entries) {
    const l = listLocale(e.tag);
    if (l) return l;
  }
  return null;
}

/**
 * Which language a public list page is shown in: a choice made on the page itself (the form's
 * language, `?lang=`), else the subscriber's stored language (pages reached through their own
 * signed link), else the browser's Accept-Language, else the list's default language, else English.
 */
export function pageLocale(opts: {
  explicit?: string | null | undefined;
  stored?: string | null | undefined;
  acceptLanguage?: string | string[] | null | undefined;
  listDefault?: string | null | undefined;
}): ListLocale {
  return (
    listLocale(opts.explicit) ??
    listLocale(opts.stored) ??
    localeFromAcceptLanguage(opts.acceptLanguage) ??
    listLocale(opts.listDefault) ??
    'en'
  );
}

/** The list's translations of its consent wording (consent_wordings JSON); bad JSON reads as none. */
export function consentWordings(
  list: Pick<ListRow, 'consent_wordings'>,
): Partial<Record<ListLocale, string>> {
  const out: Partial<Record<ListLocale, string>> = {};
  try {
    const v = JSON.parse(list.consent_wordings ?? '{}') as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, text] of Object.entries(v)) {
        const l = LIST_LOCALES.find((x) => x === k);
        if (l && typeof text === 'string' && text.trim()) out[l] = text;
      }
    }
  } catch {
    // a malformed column reads as no translations
  }
  return out;
}

export interface ShownWording {
  /** The language of `wording` (not necessarily the page's: an untranslated list shows its default). */
  locale: ListLocale;
  wording: string;
}

/**
 * The consent sentence shown next to the subscribe button on a page in `locale`: the list's
 * translation when it has one, else its wording in the default language. The subscribe form shows
 * exactly this, and the consent record stores exactly this, so what is recorded is what was shown.
 */
export function consentWordingFor(
  list: Pick<ListRow, 'consent_wording' | 'consent_wordings' | 'default_locale'>,
  locale: string | null | undefined,
): ShownWording {
  const fallback: ShownWording = {
    locale: listLocale(list.default_locale) ?? 'en',
    wording: list.consent_wording,
  };
  const want = listLocale(locale);
  if (!want || want === fallback.locale) return fallback;
  const translated = consentWordings(list)[want];
  return translated ? { locale: want, wording: translated } : fallback;
}

/** Checks a locale given by staff (CLI, API): one of LIST_LOCALES exactly, or a VALIDATION error. */
export function requireListLocale(value: string): ListLocale {
  const l = LIST_LOCALES.find((x) => x.toLowerCase() === value.trim().toLowerCase());
  if (!l) {
    throw new MailroomError(
      ErrorCodes.VALIDATION,
      `"${value.slice(0, 20)}" is not a list language: use ${LIST_LOCALES.join(', ')}`,
    );
  }
  return l;
}
