import { randomBytes } from 'node:crypto';
import libmime from 'libmime';
import libqp from 'libqp';

/**
 * The MIME of the mail mailroom writes, built directly: one multipart/alternative with a text and
 * an HTML part, UTF-8, CRLF. Every mail mailroom sends has that shape (templates, staff replies,
 * campaigns), and nodemailer's MailComposer, a general builder of streams per part, spent ~0.5 ms
 * per mail on it, the largest cost of a send after SMTP itself. The encodings come from libmime
 * and libqp (nodemailer's own): RFC 2047 encoded-words for headers, quoted-printable or base64
 * bodies, lines folded at 76. Anything outside that shape (a non-ASCII address, an empty part, a
 * field with a line break, a custom header named like one of ours) is declined (null) and the
 * caller builds with MailComposer.
 */

export interface Mailbox {
  name?: string;
  address: string;
}

export interface AlternativeMail {
  from: Mailbox;
  to: Mailbox;
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

const CRLF = '\r\n';
const ASCII = /^[\x20-\x7e]*$/;
const PRINTABLE_ASCII_TEXT = /^[\x09\x0a\x0d\x20-\x7e]*$/;
/** RFC 5322 specials: a display name with any of them must be a quoted string. */
const SPECIALS = /[()<>[\]:;@\\,."]/;

/**
 * `Key: value`, folded at 76 columns; a value that is not ASCII is encoded whole, as encoded-words
 * (encoding only its non-ASCII words would leave the rest raw, and some clients drop the spaces
 * between encoded and plain words).
 */
function header(key: string, value: string): string {
  const v = ASCII.test(value) ? value : libmime.encodeWord(value, 'Q', 52);
  return libmime.foldLines(`${key}: ${v}`, 76);
}

/**
 * A display name and address. A name that is not ASCII is encoded whole: `Smith, Zoë` with only
 * `Zoë` encoded would read as two addresses, and `Acme: Zürich` as a group.
 */
function mailbox(m: Mailbox): string {
  const name = m.name?.trim();
  if (!name) return m.address;
  if (!ASCII.test(name)) return `${libmime.encodeWord(name, 'Q', 52)} <${m.address}>`;
  if (SPECIALS.test(name)) return `"${name.replace(/(["\\])/g, '\\$1')}" <${m.address}>`;
  return `${name} <${m.address}>`;
}

/** Headers this builder writes itself: a custom header by one of these names is not ours to add. */
const OWN_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'reply-to',
  'subject',
  'date',
  'message-id',
  'in-reply-to',
  'references',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
]);
const HEADER_NAME = /^[!-9;-~]+$/;
const LINE_BREAK = /[\r\n\u2028\u2029]/;

/**
 * Whether the builder can write the mail safely itself. Callers sanitise every field already
 * (compose.ts); this is the builder's own guard, so that a field with a line break, a bad header
 * name or a header that would duplicate one of ours goes to MailComposer's handling instead.
 */
function buildable(m: AlternativeMail): boolean {
  const plain = [
    m.from.address,
    m.to.address,
    m.replyTo ?? '',
    m.messageId,
    m.inReplyTo ?? '',
    ...(m.references ?? []),
  ];
  if (!plain.every((a) => ASCII.test(a)) || m.text === '' || m.html === '') return false;
  const texts = [m.subject, m.from.name ?? '', m.to.name ?? '', ...Object.values(m.headers)];
  if (texts.some((t) => LINE_BREAK.test(t))) return false;
  return Object.keys(m.headers).every((k) => HEADER_NAME.test(k) && !OWN_HEADERS.has(k.toLowerCase()));
}

/** A part's Content-Transfer-Encoding and body: 7bit when it can be, else the shorter of QP and base64. */
function encodeBody(content: string): { encoding: string; body: string } {
  const crlf = content.replace(/\r\n|\r|\n/g, CRLF);
  if (PRINTABLE_ASCII_TEXT.test(crlf) && crlf.split(CRLF).every((l) => l.length <= 76))
    return { encoding: '7bit', body: crlf };
  const bytes = Buffer.from(crlf, 'utf8');
  // Mostly non-Latin text (Chinese) is a third shorter in base64 than in quoted-printable.
  const ascii = bytes.reduce((n, b) => n + (b < 0x80 ? 1 : 0), 0);
  if (ascii < bytes.length / 2) {
    const b64 = bytes.toString('base64');
    const lines: string[] = [];
    for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
    return { encoding: 'base64', body: lines.join(CRLF) };
  }
  return { encoding: 'quoted-printable', body: libqp.wrap(libqp.encode(bytes), 76) };
}

function part(type: string, content: string): string {
  const { encoding, body } = encodeBody(content);
  return `Content-Type: ${type}; charset=utf-8${CRLF}Content-Transfer-Encoding: ${encoding}${CRLF}${CRLF}${body}`;
}

/** The date as RFC 5322 wants it, in UTC. */
function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

/** The raw message, or null when the mail is outside the shape built here. */
export function buildAlternativeMail(m: AlternativeMail): Buffer | null {
  if (!buildable(m)) return null;
  const boundary = `--_mr_${randomBytes(12).toString('hex')}`;
  const lines = [
    libmime.foldLines(`From: ${mailbox(m.from)}`, 76),
    libmime.foldLines(`To: ${mailbox(m.to)}`, 76),
  ];
  if (m.replyTo) lines.push(`Reply-To: ${m.replyTo}`);
  lines.push(header('Subject', m.subject));
  lines.push(`Date: ${rfc5322Date(m.date)}`);
  lines.push(`Message-ID: <${m.messageId}>`);
  if (m.inReplyTo) lines.push(`In-Reply-To: <${m.inReplyTo}>`);
  if (m.references?.length)
    lines.push(libmime.foldLines(`References: ${m.references.map((r) => `<${r}>`).join(' ')}`, 76));
  for (const [k, v] of Object.entries(m.headers)) if (v.trim() !== '') lines.push(header(k, v));
  lines.push('MIME-Version: 1.0');
  lines.push(`Content-Type: multipart/alternative;${CRLF} boundary="${boundary}"`);
  const raw = [
    lines.join(CRLF),
    '',
    `--${boundary}`,
    part('text/plain', m.text),
    `--${boundary}`,
    part('text/html', m.html),
    `--${boundary}--`,
    '',
  ].join(CRLF);
  return Buffer.from(raw, 'utf8');
}
