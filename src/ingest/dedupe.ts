import { sha256Hex } from '../lib/index.ts';
import type { ParsedMessage } from './parse.ts';

/**
 * What makes two copies one message. A Message-ID is the sender's own name for the message and
 * survives re-polls, two accounts and resyncs; Received headers and IMAP metadata do not, so when
 * the Message-ID is missing or malformed (no "@": often a bare counter that collides across
 * senders) we hash the headers a person would compare plus the body.
 */
export function dedupeKey(p: ParsedMessage, rawSha256: string): string {
  const id = p.messageId;
  if (id && /^[^@\s]+@[^@\s]+$/.test(id)) {
    const at = id.lastIndexOf('@');
    return `mid:${id.slice(0, at)}@${id.slice(at + 1).toLowerCase()}`;
  }
  if (p.parseError) return `raw:${rawSha256}`;
  const body = (p.text ?? p.html ?? '')
    .replace(/\r\n/g, '\n')
    .replace(/[ \t]+$/gm, '')
    .trim();
  const key = [
    p.from ?? '',
    p.to.join(','),
    p.cc.join(','),
    p.date ?? '',
    p.subject.trim(),
    id ?? '',
    body,
    p.attachments.map((a) => a.sha256).join(','),
  ].join('\n');
  return `hash:${sha256Hex(key)}`;
}

/** The Message-ID we record: the header's, or a stable synthetic one derived from the key. */
export function storedMessageId(p: ParsedMessage, key: string, domain: string): string {
  if (p.messageId) return p.messageId;
  return `${key.replace(/^[a-z]+:/, '').slice(0, 32)}.synthetic@${domain}`;
}
