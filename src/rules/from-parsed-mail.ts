import { convert } from 'html-to-text';
import type { AddressObject, ParsedMail } from 'mailparser';
import type { RuleInput } from './types.ts';

function addresses(a: AddressObject | AddressObject[] | undefined): string[] {
  if (!a) return [];
  const list = Array.isArray(a) ? a : [a];
  return list.flatMap((o) => o.value.flatMap((v) => (v.address ? [v.address.toLowerCase()] : [])));
}

/** Plain text of a body: the text part, or the HTML converted to text when there is none. */
export function bodyText(text: string | undefined | null, html: string | undefined | null | false): string {
  if (text?.trim()) return text;
  if (!html) return '';
  return convert(html, {
    wordwrap: false,
    selectors: [
      { selector: 'a', options: { ignoreHref: true } },
      { selector: 'img', format: 'skip' },
    ],
  });
}

function headerValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Date) return v.toISOString();
  if (v && typeof v === 'object') {
    if ('text' in v && typeof (v as { text: unknown }).text === 'string') return (v as { text: string }).text;
    if ('value' in v && typeof (v as { value: unknown }).value === 'string') {
      const params = (v as { params?: Record<string, string> }).params ?? {};
      const rest = Object.entries(params).map(([k, p]) => `; ${k}=${p}`);
      return `${(v as { value: string }).value}${rest.join('')}`;
    }
  }
  return String(v);
}

/**
 * Flags read from headers alone (RFC 3834 Auto-Submitted, Precedence, List-Id, RFC 3464 reports),
 * for callers without ingest's fuller loop and bounce detection (`rules test`, golden tests).
 */
export function headerFlags(input: Pick<RuleInput, 'headers' | 'from'>): string[] {
  const h = (n: string) => (input.headers[n] ?? []).map((v) => v.toLowerCase());
  const flags: string[] = [];
  if (h('auto-submitted').some((v) => !v.startsWith('no'))) flags.push('auto_reply');
  if (h('x-autoreply').length || h('x-autorespond').length) flags.push('auto_reply');
  if (h('precedence').some((v) => /bulk|junk|list/.test(v)) || h('list-id').length) flags.push('bulk');
  if (h('content-type').some((v) => v.includes('report-type=delivery-status'))) flags.push('bounce');
  else if (/^(mailer-daemon|postmaster)@/.test(input.from)) flags.push('bounce');
  return [...new Set(flags)];
}

/** Builds the engine's input from a mailparser result; without flags, headerFlags decides them. */
export function fromParsedMail(
  parsed: ParsedMail,
  flags?: string[],
  extra: { size?: number; customer?: RuleInput['customer'] } = {},
): RuleInput {
  const from = parsed.from?.value[0];
  const headers: Record<string, string[]> = {};
  for (const line of parsed.headerLines ?? []) {
    const name = line.key.toLowerCase();
    const value = line.line.slice(line.line.indexOf(':') + 1).trim();
    const list = headers[name] ?? [];
    list.push(value);
    headers[name] = list;
  }
  // headerLines hold the raw (possibly RFC 2047-encoded) text; prefer the decoded value when single.
  for (const [name, v] of parsed.headers ?? new Map()) {
    if (!Array.isArray(v)) headers[name.toLowerCase()] = [headerValue(v)];
  }
  const text = bodyText(parsed.text, parsed.html);
  const attachments = (parsed.attachments ?? []).map((a) => ({
    ...(a.filename ? { filename: a.filename } : {}),
    contentType: a.contentType,
    size: a.size,
  }));
  const input: RuleInput = {
    from: (from?.address ?? '').toLowerCase(),
    to: addresses(parsed.to),
    cc: addresses(parsed.cc),
    subject: parsed.subject ?? '',
    text,
    headers,
    attachments,
    size: extra.size ?? text.length + attachments.reduce((n, a) => n + a.size, 0),
    flags: [],
  };
  input.flags = flags ?? headerFlags(input);
  if (from?.name) input.fromName = from.name;
  if (typeof parsed.html === 'string') input.html = parsed.html;
  if (extra.customer) input.customer = extra.customer;
  return input;
}
