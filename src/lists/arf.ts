import { sendTokenFromAddress } from './verp.ts';

/**
 * Abuse Reporting Format (RFC 5965) complaint reports, parsed without a MIME library: a
 * multipart/report; report-type=feedback-report with a message/feedback-report part and the
 * original message (or its headers). Some feedback loops (Hotmail/Outlook JMRP) send only the
 * original message in a multipart/mixed; the complained-about recipient then comes from the
 * original's headers.
 */

export interface ArfReport {
  /** True when a message/feedback-report part was present. */
  isArf: boolean;
  /** abuse, fraud, opt-out, not-spam, virus, other ... (lower-case); 'abuse' when there is no report part. */
  feedbackType: string;
  /** Addresses the complaint is about, lower-case, deduped. May be empty (redacted reports). */
  recipients: string[];
  originalMailFrom: string | null;
  /** Per-send token from our VERP Return-Path in the original message, when it survived. */
  sendToken: string | null;
  userAgent: string | null;
}

interface Part {
  headers: Map<string, string>;
  body: string;
}

function splitHead(raw: string): Part {
  const m = /\r?\n\r?\n/.exec(raw);
  const head = m ? raw.slice(0, m.index) : raw;
  const body = m ? raw.slice(m.index + m[0].length) : '';
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const f = /^([!-9;-~]+)\s*:\s*(.*)$/.exec(line);
    if (f?.[1] && f[2] !== undefined && !headers.has(f[1].toLowerCase()))
      headers.set(f[1].toLowerCase(), f[2].trim());
  }
  return { headers, body };
}

function decode(p: Part): string {
  const cte = (p.headers.get('content-transfer-encoding') ?? '').toLowerCase();
  if (cte === 'base64') return Buffer.from(p.body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (cte === 'quoted-printable')
    return p.body
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  return p.body;
}

function boundaryOf(contentType: string): string | null {
  const m = /boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i.exec(contentType);
  return m ? ((m[1] ?? m[2]) as string) : null;
}

/** Leaf parts of a multipart tree (message/* parts are leaves: their body is the enclosed mail). */
function leaves(part: Part, depth = 0): Part[] {
  const ct = part.headers.get('content-type') ?? 'text/plain';
  const boundary = /^multipart\//i.test(ct) ? boundaryOf(ct) : null;
  if (!boundary || depth > 5) return [part];
  const out: Part[] = [];
  const chunks = part.body.split(`--${boundary}`);
  for (const chunk of chunks.slice(1)) {
    if (chunk.startsWith('--')) break;
    out.push(...leaves(splitHead(chunk.replace(/^[ \t]*\r?\n/, '')), depth + 1));
  }
  return out;
}

function addresses(v: string | undefined): string[] {
  if (!v) return [];
  return [...v.matchAll(/[A-Za-z0-9._%+'=-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g)].map((m) => m[0].toLowerCase());
}

export function parseArf(raw: string): ArfReport {
  const top = splitHead(raw);
  const parts = leaves(top);
  const type = (p: Part) => (p.headers.get('content-type') ?? '').toLowerCase();
  const report = parts.find((p) => type(p).startsWith('message/feedback-report'));
  const original = parts.find((p) => /^(message\/rfc822|text\/rfc822-headers)/.test(type(p)));
  const fields = report ? splitHead(`${decode(report).trim()}\n\n`).headers : new Map<string, string>();
  const orig = original ? splitHead(decode(original)).headers : new Map<string, string>();

  const recipients = new Set<string>([
    ...addresses(fields.get('original-rcpt-to')),
    ...addresses(fields.get('removal-recipient')),
  ]);
  if (recipients.size === 0) {
    // The first header that names someone wins: To may list more people than the one who complained.
    for (const h of ['x-hmxmroriginalrecipient', 'x-original-to', 'x-rcpt-to', 'to']) {
      const found = addresses(orig.get(h));
      if (found.length === 0) continue;
      for (const a of found) recipients.add(a);
      break;
    }
  }
  // Hotmail JMRP sometimes forwards the original itself, marked with the complainer's address.
  if (recipients.size === 0 && !original) {
    for (const a of addresses(top.headers.get('x-hmxmroriginalrecipient'))) recipients.add(a);
  }
  const originalMailFrom = addresses(fields.get('original-mail-from'))[0] ?? null;
  const returnPath = orig.get('return-path') ?? '';
  return {
    isArf: report !== undefined,
    feedbackType: (fields.get('feedback-type') ?? 'abuse').toLowerCase(),
    recipients: [...recipients],
    originalMailFrom,
    sendToken:
      sendTokenFromAddress(returnPath) ?? sendTokenFromAddress(fields.get('original-mail-from') ?? ''),
    userAgent: fields.get('user-agent') ?? null,
  };
}
