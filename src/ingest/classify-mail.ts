import { type Dsn, parseDsn, parseTextBounce } from './dsn.ts';
import type { ParsedMessage } from './parse.ts';

export type MailFlag =
  | 'auto_reply'
  | 'bulk'
  | 'bounce'
  | 'loop'
  | 'noreply_sender'
  | 'parse_error'
  | 'oversize'
  | 'complaint';

export interface ClassifyContext {
  /** mail.domain: our own domain, for X-Loop. */
  domain: string;
  /** mail.own_addresses plus the From address mailroom sends as. */
  ownAddresses: string[];
  /** True when a Message-ID belongs to mail mailroom sent (messages.direction = 'out'). */
  isOurMessageId: (id: string) => boolean;
  /** Start of the raw message, scanned for the original Message-ID quoted in a bounce. */
  head?: Buffer;
}

export interface MailClassification {
  flags: MailFlag[];
  dsn: Dsn | null;
}

const OOO_SUBJECT =
  /^(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|on vacation|away from (the )?office|abwesenheit|自动回复|自動回覆|自動回复|自动答复|自動答覆|休假|不在办公室|不在辦公室|外出)/i;
const OOO_ANYWHERE = /\b(out of office|autoreply|auto-reply)\b|自动回复|自動回覆/i;
const BOUNCE_SUBJECT =
  /(undeliver|delivery (status notification|has failed|failure)|returned mail|failure notice|mail delivery (failed|subsystem)|non[- ]?delivery|退信|无法投递|無法投遞|系统退信)/i;
const NOREPLY = /^(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer-daemon|postmaster|bounces?)([+-][^@]*)?@/i;
const DAEMON = /^(mailer-daemon|postmaster)@/i;

function h(p: ParsedMessage, name: string): string[] {
  return (p.headers[name] ?? []).map((v) => v.toLowerCase().trim());
}

/**
 * Flags about the mail itself, used to keep automatic replies from answering machines (RFC 3834
 * section 2) and from feeding mail loops. Pure: the caller supplies what we sent.
 */
export function classifyMail(p: ParsedMessage, ctx: ClassifyContext): MailClassification {
  const flags = new Set<MailFlag>();
  const subject = p.subject.trim();
  const from = p.from ?? '';

  // RFC 3834 2.1: anything but "no" means a machine wrote it.
  if (h(p, 'auto-submitted').some((v) => v && !v.startsWith('no'))) flags.add('auto_reply');
  if (h(p, 'x-autoreply').length || h(p, 'x-autorespond').length || h(p, 'x-autoresponse').length)
    flags.add('auto_reply');
  if (h(p, 'x-auto-response-suppress').some((v) => /all|oof|autoreply/.test(v)) && OOO_ANYWHERE.test(subject))
    flags.add('auto_reply');
  if (OOO_SUBJECT.test(subject)) flags.add('auto_reply');

  if (h(p, 'precedence').some((v) => /^(bulk|junk|list)\b/.test(v))) flags.add('bulk');
  if (h(p, 'list-id').length || h(p, 'list-unsubscribe').length) flags.add('bulk');

  if (NOREPLY.test(from)) flags.add('noreply_sender');

  const contentType = (p.headers['content-type'] ?? []).join(' ').toLowerCase();
  let dsn: Dsn | null = null;
  if (p.deliveryStatus) dsn = parseDsn(p.deliveryStatus);
  const isReport =
    contentType.includes('report-type=delivery-status') || contentType.includes('delivery-status');
  if (dsn || isReport) flags.add('bounce');
  else if (DAEMON.test(from) || BOUNCE_SUBJECT.test(subject)) {
    if (DAEMON.test(from) || /mailer-daemon|postmaster|mail delivery/i.test(p.fromName ?? '')) {
      flags.add('bounce');
      dsn = parseTextBounce(p.text ?? '');
    }
  }
  if (flags.has('bounce')) flags.add('auto_reply');
  // RFC 5965 abuse/feedback reports: a machine telling us a recipient marked our mail as spam.
  if (contentType.includes('report-type=feedback-report')) flags.add('complaint').add('auto_reply');

  // Loops: our own X-Loop coming back, our own Message-ID arriving inbound, or a bounce/auto-reply
  // about a message we sent (answering it would start a ping-pong with a machine).
  const own = new Set(ctx.ownAddresses.map((a) => a.toLowerCase()));
  const domain = ctx.domain.toLowerCase();
  if (h(p, 'x-loop').some((v) => v.includes(domain) || [...own].some((a) => v.includes(a))))
    flags.add('loop');
  if (p.messageId && ctx.isOurMessageId(p.messageId)) flags.add('loop');
  if (flags.has('bounce') || flags.has('auto_reply')) {
    const refs = [p.inReplyTo, ...p.references].filter((x): x is string => !!x);
    const quoted = ctx.head ? embeddedMessageIds(ctx.head, p.messageId) : [];
    if ([...refs, ...quoted].some((id) => ctx.isOurMessageId(id))) flags.add('loop');
  }
  if (own.has(from.toLowerCase()) && flags.has('auto_reply')) flags.add('loop');

  return { flags: [...flags], dsn };
}

/** Message-IDs quoted in the body of a bounce (the returned original's headers). */
export function embeddedMessageIds(head: Buffer, own: string | null): string[] {
  const text = head.toString('latin1');
  const out: string[] = [];
  for (const m of text.matchAll(/^Message-ID:\s*<([^<>\s]+)>/gim)) {
    if (m[1] && m[1] !== own) out.push(m[1]);
    if (out.length > 20) break;
  }
  return out;
}
