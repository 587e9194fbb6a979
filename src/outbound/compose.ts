import { readFileSync } from 'node:fs';
import type { Config, Department } from '../config/index.ts';
import { ErrorCodes, MailroomError, randomId } from '../lib/index.ts';
import {
  parseMailbox,
  safeAddress,
  safeDisplayName,
  safeHeaders,
  safeMessageId,
  stripHeaderControls,
} from './header-safety.ts';
import { buildMime, type DkimSettings } from './smtp-compose.ts';

/**
 * Turns a rendered mail into the exact bytes that go over SMTP, with the headers that make it
 * thread, stay out of loops and be unsubscribable. All values from data pass header-safety first.
 */

export interface ComposeSettings {
  domain: string;
  from: string;
  departments: Partial<Record<Department, { name?: string | undefined; reply_to?: string | undefined }>>;
  dkim?: DkimSettings | undefined;
}

export function composeSettingsFromConfig(config: Config): ComposeSettings {
  const d = config.smtp.dkim;
  return {
    domain: config.mail.domain,
    from: config.mail.from,
    departments: config.mail.departments,
    ...(d
      ? {
          dkim: {
            domainName: d.domain,
            keySelector: d.selector,
            privateKey: readFileSync(d.private_key_file, 'utf8'),
          },
        }
      : {}),
  };
}

export type AutomaticKind = 'auto-replied' | 'auto-generated';

export interface ComposeInput {
  to: string;
  toName?: string | null | undefined;
  subject: string;
  html: string;
  text: string;
  /** Overrides config.mail.from (e.g. "Sales <sales@shop>"). */
  from?: string | undefined;
  department?: Department | undefined;
  /** Puts `[#MR-<id>]` in the subject so replies find their conversation even without References. */
  conversationId?: number | null | undefined;
  /** Message-ID (no brackets) of the mail this answers. */
  inReplyTo?: string | null | undefined;
  references?: string[] | undefined;
  /** RFC 3834: marks mail no person wrote, so other robots do not answer it. */
  automatic?: AutomaticKind | null | undefined;
  /** RFC 2369 + RFC 8058 one-click unsubscribe for list mail. */
  list?: { unsubscribeUrl: string; unsubscribeMailto?: string | undefined } | undefined;
  headers?: Record<string, string> | undefined;
  envelopeFrom?: string | undefined;
  date?: Date | undefined;
}

export interface ComposedMail {
  messageId: string;
  from: string;
  to: string;
  subject: string;
  envelope: { from: string; to: string[] };
  raw: Buffer;
}

export function conversationToken(conversationId: number): string {
  return `[#MR-${conversationId}]`;
}

export function newMessageId(domain: string): string {
  return `${randomId(16)}@${domain}`;
}

function urlForHeader(url: string): string {
  const u = stripHeaderControls(url).trim();
  if (!/^(https:\/\/|http:\/\/|mailto:)[^\s<>]+$/i.test(u))
    throw new MailroomError(
      ErrorCodes.HEADER_INVALID,
      `unsubscribe link ${JSON.stringify(url)} is not a URL`,
    );
  return u;
}

export async function composeMail(settings: ComposeSettings, input: ComposeInput): Promise<ComposedMail> {
  const from = parseMailbox(input.from ?? settings.from, 'from address');
  const to = parseMailbox(input.to, 'recipient');
  const toName = safeDisplayName(input.toName ?? to.name);
  let subject = stripHeaderControls(input.subject).replace(/\s+/g, ' ').trim();
  if (input.conversationId !== null && input.conversationId !== undefined) {
    const token = conversationToken(input.conversationId);
    if (!subject.toLowerCase().includes(token.toLowerCase())) subject = `${subject} ${token}`.trim();
  }
  const messageId = newMessageId(settings.domain);
  const inReplyTo = input.inReplyTo ? safeMessageId(input.inReplyTo) : undefined;
  const refs = (input.references ?? []).map(safeMessageId);
  if (inReplyTo && !refs.includes(inReplyTo)) refs.push(inReplyTo);
  const dept = input.department ? settings.departments[input.department] : undefined;
  const replyTo = dept?.reply_to ? safeAddress(dept.reply_to, 'reply_to') : undefined;

  const headers = safeHeaders(input.headers);
  if (input.automatic) {
    headers['Auto-Submitted'] = input.automatic;
    // X-Loop: if this mail comes back to us, ingest recognises it as our own and never answers it.
    headers['X-Loop'] = settings.domain;
  }
  if (input.list) {
    const targets = [input.list.unsubscribeUrl, input.list.unsubscribeMailto]
      .filter((x): x is string => Boolean(x))
      .map((u) => `<${urlForHeader(u)}>`);
    headers['List-Unsubscribe'] = targets.join(', ');
    if (/^https:/i.test(input.list.unsubscribeUrl))
      headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
  }

  const raw = await buildMime(
    {
      from: { ...(from.name ? { name: from.name } : {}), address: from.address },
      to: { ...(toName ? { name: toName } : {}), address: to.address },
      replyTo,
      subject,
      messageId,
      inReplyTo,
      references: refs,
      date: input.date ?? new Date(),
      html: input.html,
      text: input.text,
      headers,
    },
    settings.dkim,
  );
  return {
    messageId,
    from: from.address,
    to: to.address,
    subject,
    envelope: {
      from: input.envelopeFrom ? safeAddress(input.envelopeFrom, 'envelope sender') : from.address,
      to: [to.address],
    },
    raw,
  };
}
