import type { Readable } from 'node:stream';
import DKIM from 'nodemailer/lib/dkim';
import MailComposer from 'nodemailer/lib/mail-composer';

/** The nodemailer side of composing: MIME building and DKIM signing, nothing else. */

export interface MimeInput {
  from: { name?: string; address: string };
  to: { name?: string; address: string };
  replyTo?: string | undefined;
  subject: string;
  messageId: string;
  inReplyTo?: string | undefined;
  references?: string[] | undefined;
  date: Date;
  html: string;
  text: string;
  headers: Record<string, string>;
}

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

export async function buildMime(input: MimeInput, dkim?: DkimSettings): Promise<Buffer> {
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
  const raw = await composer.compile().build();
  if (!dkim) return raw;
  const signer = new DKIM({ ...dkim, headerFieldNames: DKIM_HEADER_FIELDS });
  return collect(signer.sign(raw));
}
