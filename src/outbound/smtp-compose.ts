import type { Readable } from 'node:stream';
import DKIM from 'nodemailer/lib/dkim';
import MailComposer from 'nodemailer/lib/mail-composer';
import { type AlternativeMail, buildAlternativeMail } from './mime-build.ts';

/** The nodemailer side of composing: MIME building and DKIM signing, nothing else. */

export type MimeInput = AlternativeMail;

export interface DkimSettings {
  domainName: string;
  keySelector: string;
  privateKey: string;
}

/**
 * Headers DKIM signs. nodemailer's default list omits List-Unsubscribe-Post, and RFC 8058 §4
 * requires both List-Unsubscribe headers to be covered by the signature for one-click to count.
 */
export const DKIM_HEADER_FIELDS =
  'From:Sender:Reply-To:Subject:Date:Message-ID:To:Cc:MIME-Version:Content-Type:Content-Transfer-Encoding:' +
  'In-Reply-To:References:List-Id:List-Unsubscribe:List-Unsubscribe-Post:Auto-Submitted';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

/** The mail as nodemailer's MailComposer builds it: for what buildAlternativeMail declines, and to compare. */
export async function buildMimeWithComposer(input: MimeInput): Promise<Buffer> {
  const composer = new MailComposer({
    from: input.from,
    to: input.to,
    ...(input.replyTo ? { replyTo: input.replyTo } : {}),
    subject: input.subject,
    messageId: `<${input.messageId}>`,
    ...(input.inReplyTo ? { inReplyTo: `<${input.inReplyTo}>` } : {}),
    ...(input.references?.length ? { references: input.references.map((r) => `<${r}>`) } : {}),
    date: input.date,
    html: input.html,
    text: input.text,
    headers: input.headers,
    // Content comes from templates and staff; never let it pull a local file or URL into mail.
    disableFileAccess: true,
    disableUrlAccess: true,
    newline: 'win',
  });
  return composer.compile().build();
}

export async function buildMime(input: MimeInput, dkim?: DkimSettings): Promise<Buffer> {
  const raw = buildAlternativeMail(input) ?? (await buildMimeWithComposer(input));
  if (!dkim) return raw;
  const signer = new DKIM({ ...dkim, headerFieldNames: DKIM_HEADER_FIELDS });
  return collect(signer.sign(raw));
}
