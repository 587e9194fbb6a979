/**
 * Template locales and their fallback chains. A customer's locale is matched case-insensitively and
 * walked until a locale that has the template is found:
 *   zh-TW -> en            (Traditional; Simplified copy would read as foreign, English is safer)
 *   zh-HK, zh-MO -> zh-TW -> en
 *   zh-Hant -> zh-TW -> en
 *   zh, zh-CN, zh-SG, zh-Hans -> zh-CN -> en
 *   en-* and anything unknown -> en
 */

export const TEMPLATE_LOCALES = ['en', 'zh-CN', 'zh-TW'] as const;
export type TemplateLocale = (typeof TEMPLATE_LOCALES)[number];
export const DEFAULT_LOCALE: TemplateLocale = 'en';

const ALIASES: Record<string, string[]> = {
  'zh-tw': ['zh-TW'],
  'zh-hant': ['zh-TW'],
  'zh-hant-tw': ['zh-TW'],
  'zh-hk': ['zh-TW'],
  'zh-hant-hk': ['zh-TW'],
  'zh-mo': ['zh-TW'],
  zh: ['zh-CN'],
  'zh-cn': ['zh-CN'],
  'zh-sg': ['zh-CN'],
  'zh-hans': ['zh-CN'],
  'zh-hans-cn': ['zh-CN'],
};

/** The locales to try, most specific first, always ending in `en`. */
export function localeChain(locale: string | null | undefined): string[] {
  const key = (locale ?? '').trim().replace(/_/g, '-').toLowerCase();
  const chain: string[] = [];
  const add = (l: string) => {
    if (!chain.includes(l)) chain.push(l);
  };
  const exact = TEMPLATE_LOCALES.find((l) => l.toLowerCase() === key);
  if (exact) add(exact);
  for (const l of ALIASES[key] ?? []) add(l);
  if (key.startsWith('zh-') && !ALIASES[key] && !exact) add(/hant|tw|hk|mo/.test(key) ? 'zh-TW' : 'zh-CN');
  add(DEFAULT_LOCALE);
  return chain;
}

/** The locale Intl should format numbers and dates for (a valid BCP 47 tag). */
export function intlLocale(locale: string): string {
  try {
    return Intl.getCanonicalLocales(locale)[0] ?? DEFAULT_LOCALE;
  } catch {
    return DEFAULT_LOCALE;
  }
}
