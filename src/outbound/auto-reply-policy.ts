/**
 * Whether an incoming message may get an automatic acknowledgement. Pure: the caller looks up
 * when we last auto-answered the sender. RFC 3834 §2 asks responders not to answer automatic mail,
 * lists, bounces or themselves; the per-sender window stops two responders (two mailroom
 * instances, or mailroom and an out-of-office) from answering each other forever.
 */

export interface AutoReplyMessage {
  from: string | null;
  /** messages.flags: auto_reply, bulk, bounce, loop, noreply_sender, complaint, ... */
  flags: readonly string[];
  /** Raw header values by lower-case name, when at hand (second guard if flags were not set). */
  headers?: Readonly<Record<string, readonly string[] | string | undefined>>;
}

export interface AutoReplySettings {
  /** config.mail.own_addresses plus the address of config.mail.from. */
  ownAddresses: readonly string[];
  /** config.mail.domain: X-Loop value on our own mail. */
  domain: string;
  windowMs: number;
}

export type AutoReplyDecision = { send: true } | { send: false; reason: string };

const BLOCKING_FLAGS: Record<string, string> = {
  auto_reply: 'the message was written by a machine (Auto-Submitted / auto-reply)',
  bulk: 'the message is bulk or list mail',
  list: 'the message is list mail',
  bounce: 'the message is a bounce',
  loop: 'the message is our own mail coming back (loop)',
  noreply: 'the sender does not take replies',
  noreply_sender: 'the sender does not take replies',
  complaint: 'the message is a spam complaint report',
};

const NOREPLY_LOCAL =
  /^(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon|postmaster|bounces?)([+-].*)?$/i;

function headerValues(msg: AutoReplyMessage, name: string): string[] {
  const v = msg.headers?.[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => String(x).trim().toLowerCase());
}

export function addressOf(value: string): string {
  const m = /<([^<>]+)>\s*$/.exec(value);
  return (m ? (m[1] ?? '') : value).trim().toLowerCase();
}

export function autoReplyDecision(
  msg: AutoReplyMessage,
  settings: AutoReplySettings,
  lastAutoReplyAt: number | null,
  now: number,
): AutoReplyDecision {
  const from = msg.from ? addressOf(msg.from) : '';
  if (!from?.includes('@')) return { send: false, reason: 'the message has no sender address' };
  for (const f of msg.flags) {
    const reason = BLOCKING_FLAGS[f];
    if (reason) return { send: false, reason };
  }
  if (headerValues(msg, 'auto-submitted').some((v) => v !== '' && !v.startsWith('no')))
    return { send: false, reason: BLOCKING_FLAGS.auto_reply as string };
  if (headerValues(msg, 'precedence').some((v) => /^(bulk|junk|list|auto_reply)\b/.test(v)))
    return { send: false, reason: BLOCKING_FLAGS.bulk as string };
  if (headerValues(msg, 'list-id').length > 0) return { send: false, reason: BLOCKING_FLAGS.bulk as string };
  if (headerValues(msg, 'x-loop').includes(settings.domain.toLowerCase()))
    return { send: false, reason: BLOCKING_FLAGS.loop as string };
  const local = from.slice(0, from.lastIndexOf('@'));
  if (NOREPLY_LOCAL.test(local)) return { send: false, reason: BLOCKING_FLAGS.noreply as string };
  if (settings.ownAddresses.some((a) => addressOf(a) === from))
    return { send: false, reason: 'the sender is one of our own addresses' };
  if (lastAutoReplyAt !== null && now - lastAutoReplyAt < settings.windowMs)
    return { send: false, reason: 'the sender was already answered automatically within the window' };
  return { send: true };
}
