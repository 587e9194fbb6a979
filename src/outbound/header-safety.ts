import { ErrorCodes, MailroomError } from '../lib/index.ts';

/**
 * Header values built from data (customer names, subjects, template output) must never end a
 * header line early: a CR or LF would let the data add a Bcc or a body of its own (header
 * injection). NUL and other C0/C1 controls break parsers, and U+0085/U+2028/U+2029 are line
 * breaks to some clients. Free text has them turned into spaces (tabs too) or removed; addresses,
 * which have no harmless reading, are rejected. This is the data side; config values that reach a
 * header (mail.from, mail.domain, Reply-To ...) are refused at load instead (src/config/schema.ts),
 * so a typo there is reported once at start-up rather than silently changed or failing every send.
 */

// C0 controls, DEL, C1 controls (NEL among them) and the Unicode line/paragraph separators.
const LINE_BREAKS = /[\r\n\u0085\u2028\u2029]+/g;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const CONTROLS_G = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

export function stripHeaderControls(value: string): string {
  return value.replace(LINE_BREAKS, ' ').replace(/\t/g, ' ').replace(CONTROLS_G, '');
}

export function hasHeaderControls(value: string): boolean {
  return CONTROLS.test(value);
}

/** A single bare address (`user@domain`); anything with controls, spaces or brackets is refused. */
export function safeAddress(value: string, what = 'address'): string {
  const v = value.trim();
  if (hasHeaderControls(value) || !/^[^\s@<>",;()[\]\\]+@[^\s@<>",;()[\]\\]+$/.test(v)) {
    throw new MailroomError(
      ErrorCodes.HEADER_INVALID,
      `${what} ${JSON.stringify(value).slice(0, 80)} is not a plain email address`,
      { what },
    );
  }
  return v;
}

/** A display name: free text, controls removed; quoting is left to the MIME composer. */
export function safeDisplayName(value: string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  const v = stripHeaderControls(value).trim();
  return v === '' ? undefined : v;
}

/**
 * `Name <user@domain>` or a bare address, split and checked. The name may hold any character
 * (`[\s\S]`, not `.`: JS's `.` stops at U+2028/U+2029, so a name holding one fell through to the
 * bare-address check and every send failed); safeDisplayName then strips what cannot go in a header.
 */
export function parseMailbox(value: string, what = 'address'): { name?: string; address: string } {
  const m = /^\s*([\s\S]*?)\s*<([^<>]*)>\s*$/.exec(value);
  if (!m) return { address: safeAddress(value, what) };
  const name = safeDisplayName((m[1] ?? '').replace(/^"([\s\S]*)"$/, '$1'));
  return { ...(name ? { name } : {}), address: safeAddress(m[2] ?? '', what) };
}

const FIELD_NAME = /^[!-9;-~]+$/;

/** Extra headers from data: names must be RFC 5322 field names, values are stripped of controls. */
export function safeHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (!FIELD_NAME.test(k))
      throw new MailroomError(ErrorCodes.HEADER_INVALID, `header name ${JSON.stringify(k)} is not valid`);
    out[k] = stripHeaderControls(String(v)).trim();
  }
  return out;
}

/** A Message-ID without brackets, as stored; refuses anything that could break the header. */
export function safeMessageId(value: string): string {
  const v = value.trim().replace(/^<|>$/g, '');
  if (hasHeaderControls(v) || /[\s<>]/.test(v) || v === '')
    throw new MailroomError(
      ErrorCodes.HEADER_INVALID,
      `Message-ID ${JSON.stringify(value).slice(0, 80)} is not valid`,
    );
  return v;
}
