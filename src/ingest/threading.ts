import { type Db, prepareCached } from '../store/index.ts';
import type { ParsedMessage } from './parse.ts';

/**
 * Which conversation a message belongs to. Choices, as a person reading the inbox would expect:
 *
 * - In-Reply-To, then References newest-first, matched against every stored Message-ID, inbound
 *   and the ones we sent (direction 'out'): a reply joins the thread it answers.
 * - The other direction too: when a reply arrived before the message it answers (IMAP order is
 *   not send order), the original joins the reply's conversation.
 * - Then the `[#MR-<id>]` token mailroom puts in the subject of its own mail, for clients that
 *   drop References; an unknown id is ignored rather than trusted.
 * - References pointing only at messages we never saw start a new conversation: guessing by
 *   subject ("Re: order") would merge unrelated customers' mail.
 * - Missing or malformed Message-IDs: the message can still join by its own In-Reply-To,
 *   References or token; nothing can later thread onto it except through the token.
 * - Forwarded mail from a colleague (From is one of our own addresses or our domain, subject
 *   "Fwd:"/"FW:"/"转发"/"轉寄"): a new conversation whose customer is the original sender found in
 *   the forwarded text, so staff answer the customer, not the colleague; when no original sender
 *   can be found the colleague is the contact.
 */

export const TOKEN_RE = /\[#MR-(\d{1,12})\]/i;

export function conversationToken(conversationId: number): string {
  return `[#MR-${conversationId}]`;
}

export interface ThreadMatch {
  conversationId: number;
  via: 'in-reply-to' | 'references' | 'replied-by' | 'token';
}

export function findConversation(db: Db, p: ParsedMessage): ThreadMatch | null {
  const byId = prepareCached(db, 'SELECT conversation_id FROM messages WHERE message_id = ? LIMIT 1');
  const lookup = (id: string) => (byId.get(id) as { conversation_id: number } | undefined)?.conversation_id;
  if (p.inReplyTo) {
    const c = lookup(p.inReplyTo);
    if (c !== undefined) return { conversationId: c, via: 'in-reply-to' };
  }
  for (const id of [...p.references].reverse()) {
    const c = lookup(id);
    if (c !== undefined) return { conversationId: c, via: 'references' };
  }
  if (p.messageId) {
    // Two index lookups (messages_in_reply_to, message_refs), not a scan of every stored message.
    const child = prepareCached(
      db,
      `SELECT conversation_id FROM messages WHERE in_reply_to = @id
       UNION ALL
       SELECT m.conversation_id FROM message_refs r JOIN messages m ON m.id = r.message_row WHERE r.ref = @id
       LIMIT 1`,
    ).get({ id: p.messageId }) as { conversation_id: number } | undefined;
    if (child) return { conversationId: child.conversation_id, via: 'replied-by' };
  }
  const token = TOKEN_RE.exec(p.subject)?.[1];
  if (token) {
    const row = prepareCached(db, 'SELECT id FROM conversations WHERE id = ?').get(Number(token)) as
      | { id: number }
      | undefined;
    if (row) return { conversationId: row.id, via: 'token' };
  }
  return null;
}

const FORWARD_SUBJECT = /^\s*(fwd?|fw|转发|轉發|转寄|轉寄)\s*[:：]/i;

/** Whether the sender is one of us (a colleague) rather than a customer. */
export function isColleague(from: string | null, ownAddresses: string[], domain: string): boolean {
  if (!from) return false;
  const f = from.toLowerCase();
  return ownAddresses.some((a) => a.toLowerCase() === f) || f.endsWith(`@${domain.toLowerCase()}`);
}

/**
 * The original sender of a forwarded message ("From: Name <addr>" in the forwarded block).
 * Returns null when the message is not a forward from a colleague.
 */
export function forwardedSender(
  p: ParsedMessage,
  ownAddresses: string[],
  domain: string,
): { email: string; name: string | null } | null {
  if (!FORWARD_SUBJECT.test(p.subject) || !isColleague(p.from, ownAddresses, domain)) return null;
  const text = p.text ?? '';
  const re =
    /^[>\s*]*(?:from|von|de|发件人|寄件者|發件人)\s*[:：]\s*\**\s*(?:"?([^"<\n]*?)"?\s*)?<?([^\s<>@]+@[^\s<>]+?)>?\s*$/gim;
  for (const m of text.matchAll(re)) {
    const email = m[2]?.toLowerCase();
    if (email && !isColleague(email, ownAddresses, domain)) return { email, name: m[1]?.trim() || null };
  }
  return null;
}
