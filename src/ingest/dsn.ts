/**
 * RFC 3464 delivery-status notifications. The lists engineer uses `parseDsn` for bounce
 * suppression, so it takes plain strings and has no I/O.
 */

export interface DsnRecipient {
  recipient: string;
  /** RFC 3463 status code, e.g. "5.1.1"; "" when the report had none. */
  status: string;
  /** failed | delayed | delivered | relayed | expanded (RFC 3464 2.3.3). */
  action: string;
  /** hard: permanent failure (5.x.x); soft: transient (4.x.x) or delayed. */
  kind: 'hard' | 'soft';
  diagnostic: string | null;
}

export interface Dsn {
  reportingMta: string | null;
  recipients: DsnRecipient[];
}

function fields(block: string): Map<string, string> {
  const out = new Map<string, string>();
  const unfolded = block.replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const m = /^([A-Za-z][A-Za-z0-9-]*)\s*:\s*(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined && !out.has(m[1].toLowerCase()))
      out.set(m[1].toLowerCase(), m[2].trim());
  }
  return out;
}

function addressOf(v: string | undefined): string {
  if (!v) return '';
  const after = v.includes(';') ? v.slice(v.indexOf(';') + 1) : v;
  return after.trim().replace(/^<|>$/g, '').toLowerCase();
}

function kindOf(status: string, action: string): 'hard' | 'soft' {
  if (status.startsWith('5')) return 'hard';
  if (status.startsWith('4')) return 'soft';
  return action === 'failed' ? 'hard' : 'soft';
}

/**
 * Parses the message/delivery-status body. Returns null when there is no per-recipient block,
 * so a caller can tell "not a DSN" from "a DSN with no failures".
 */
export function parseDsn(deliveryStatus: string): Dsn | null {
  const blocks = deliveryStatus.split(/\r?\n\s*\r?\n/).filter((b) => b.trim());
  if (blocks.length === 0) return null;
  const first = fields(blocks[0] as string);
  const recipients: DsnRecipient[] = [];
  for (const b of blocks) {
    const f = fields(b);
    const rcpt = f.get('final-recipient') ?? f.get('original-recipient');
    if (!rcpt) continue;
    const status = (/\d\.\d{1,3}\.\d{1,3}/.exec(f.get('status') ?? '')?.[0] ?? '').trim();
    const action = (f.get('action') ?? '').toLowerCase().split(/\s/)[0] ?? '';
    recipients.push({
      recipient: addressOf(rcpt),
      status,
      action,
      kind: kindOf(status, action),
      diagnostic: f.get('diagnostic-code') ?? null,
    });
  }
  if (recipients.length === 0) return null;
  return { reportingMta: addressOf(first.get('reporting-mta')) || null, recipients };
}

/**
 * Bounces from MTAs that send no RFC 3464 part (qmail, old Exim/Sendmail texts): the first
 * address near an SMTP status in the text. Good enough for "which recipient bounced"; the
 * kind comes from the 5xx/4xx code.
 */
export function parseTextBounce(text: string): Dsn | null {
  const m =
    /<?([^\s<>@"']+@[^\s<>@"':;]+?)>?[:\s][\s\S]{0,300}?\b([45])(\d\d)?[ -.](\d\.\d{1,3}\.\d{1,3})?/.exec(
      text,
    ) ?? null;
  if (!m?.[1] || !m[2]) return null;
  const status = m[4] ?? `${m[2]}.0.0`;
  return {
    reportingMta: null,
    recipients: [
      {
        recipient: m[1].toLowerCase().replace(/\.$/, ''),
        status,
        action: m[2] === '5' ? 'failed' : 'delayed',
        kind: m[2] === '5' ? 'hard' : 'soft',
        diagnostic: null,
      },
    ],
  };
}
