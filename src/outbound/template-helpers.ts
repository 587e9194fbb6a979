import type { HelperOptions } from 'handlebars';
import { ErrorCodes, MailroomError } from '../lib/index.ts';
import { intlLocale } from './locales.ts';

/**
 * Helpers every template can use. Each reads the render locale from `@root._locale` (set by the
 * renderer) so `{{money 1999 "EUR"}}` shows "€19.99" in en and "€19.99"/"19.99 €" per locale.
 */

export interface HelperContext {
  /** config.web.public_url: links in mail must be absolute, a mail client has no base URL. */
  publicUrl: string | undefined;
}

function rootLocale(options: HelperOptions): string {
  const root = (options.data as { root?: { _locale?: unknown } } | undefined)?.root;
  return typeof root?._locale === 'string' ? root._locale : 'en';
}

function rootTimeZone(options: HelperOptions): string {
  const root = (options.data as { root?: { _timeZone?: unknown } } | undefined)?.root;
  return typeof root?._timeZone === 'string' ? root._timeZone : 'UTC';
}

function helperError(helper: string, message: string): MailroomError {
  return new MailroomError(ErrorCodes.TEMPLATE_INVALID, `{{${helper}}}: ${message}`, { helper });
}

/** `{{money amount_minor "CNY"}}`: amount in minor units (cents/fen), formatted for the locale. */
export function money(amountMinor: unknown, currency: unknown, options: HelperOptions): string {
  if (typeof amountMinor !== 'number' || !Number.isFinite(amountMinor))
    throw helperError('money', `expected an amount in minor units (a number), got ${String(amountMinor)}`);
  if (typeof currency !== 'string' || !/^[A-Za-z]{3}$/.test(currency))
    throw helperError('money', `expected a 3-letter currency code, got ${String(currency)}`);
  const fmt = new Intl.NumberFormat(intlLocale(rootLocale(options)), {
    style: 'currency',
    currency: currency.toUpperCase(),
  });
  const digits = fmt.resolvedOptions().maximumFractionDigits ?? 2;
  return fmt.format(amountMinor / 10 ** digits);
}

/**
 * `{{date when}}` / `{{date when "Asia/Taipei" style="full"}}`: a time (ms, ISO string or Date) in
 * the given IANA zone (default: `@root._timeZone`, the customer's zone) and the render locale.
 */
export function date(value: unknown, ...rest: unknown[]): string {
  const options = rest[rest.length - 1] as HelperOptions;
  const zoneArg = rest.length > 1 ? rest[0] : undefined;
  const t =
    typeof value === 'number'
      ? value
      : value instanceof Date
        ? value.getTime()
        : typeof value === 'string'
          ? Date.parse(value)
          : Number.NaN;
  if (!Number.isFinite(t)) throw helperError('date', `expected a time, got ${String(value)}`);
  const timeZone = typeof zoneArg === 'string' && zoneArg ? zoneArg : rootTimeZone(options);
  const style = (options.hash as { style?: string }).style ?? 'long';
  const withTime = (options.hash as { time?: boolean }).time === true;
  try {
    return new Intl.DateTimeFormat(intlLocale(rootLocale(options)), {
      dateStyle: style as Intl.DateTimeFormatOptions['dateStyle'],
      ...(withTime ? { timeStyle: 'short' as const } : {}),
      timeZone,
    }).format(new Date(t));
  } catch (e) {
    throw helperError('date', `cannot format in time zone "${timeZone}": ${(e as Error).message}`);
  }
}

/** `{{link "/lists/confirm" token=t}}`: an absolute URL under web.public_url. Absolute URLs pass through. */
export function makeLink(ctx: HelperContext) {
  return (target: unknown, options: HelperOptions): string => {
    if (typeof target !== 'string' || target === '')
      throw helperError('link', `expected a path such as "/lists/confirm", got ${String(target)}`);
    let url: URL;
    if (/^https?:\/\//i.test(target)) url = new URL(target);
    else {
      if (!ctx.publicUrl)
        throw helperError(
          'link',
          'web.public_url is not set in mailroom.yaml, so links in mail cannot be built',
        );
      const base = ctx.publicUrl.endsWith('/') ? ctx.publicUrl : `${ctx.publicUrl}/`;
      url = new URL(target.replace(/^\/+/, ''), base);
    }
    for (const [k, v] of Object.entries((options.hash ?? {}) as Record<string, unknown>)) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    return url.toString();
  };
}
