import { type Readable, Transform } from 'node:stream';
import { type AddressObject, type AttachmentStream, MailParser, type MessageText } from 'mailparser';
import { errorMessage } from '../lib/index.ts';
import type { BlobStore } from './blob-store.ts';
import {
  declaredCharset,
  decodeGuessing,
  hasReplacement,
  headerSection,
  rawHeader,
  repairHeader,
} from './charset-fix.ts';

export interface StoredAttachment {
  sha256: string;
  filename: string | null;
  contentType: string;
  size: number;
  contentId: string | null;
  inline: boolean;
}

export interface ParsedMessage {
  /** Without angle brackets; null when missing. */
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  from: string | null;
  fromName: string | null;
  to: string[];
  cc: string[];
  subject: string;
  date: number | null;
  text: string | null;
  html: string | null;
  /** Lower-case header name -> decoded values, every occurrence. */
  headers: Record<string, string[]>;
  attachments: StoredAttachment[];
  /** Text of message/delivery-status parts (RFC 3464), for bounce parsing. */
  deliveryStatus: string | null;
  /** Set when the MIME structure could not be read; the raw message is still kept. */
  parseError: string | null;
}

export interface ParseOptions {
  blobs: BlobStore;
  /** The first bytes of the raw message (at least the header section). */
  head: Buffer;
  /** Whole raw message on demand, for re-decoding a small body with no declared charset. */
  loadRaw?: () => Promise<Buffer>;
  size: number;
  maxHtmlLengthToParse?: number;
}

const MAX_REDECODE_BYTES = 4 * 1024 * 1024;
const MAX_STATUS_BYTES = 64 * 1024;

/** Message-IDs without brackets, spaces or control characters; odd ones pass through trimmed. */
export function cleanMessageId(v: string | null | undefined): string | null {
  if (!v) return null;
  const m = /<([^<>]+)>/.exec(v);
  const id = (m?.[1] ?? v).replace(/[\s\u0000-\u001f]/g, '').trim();
  return id.length > 0 && id.length <= 500 ? id : null;
}

export function splitReferences(v: unknown): string[] {
  const all = (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string').join(' ');
  const ids = [...all.matchAll(/<([^<>]+)>/g)].map((m) => cleanMessageId(m[1]));
  const out = ids.filter((x): x is string => x !== null);
  if (out.length === 0 && all.trim()) {
    for (const w of all.split(/[\s,]+/)) {
      const id = cleanMessageId(w);
      if (id) out.push(id);
    }
  }
  return [...new Set(out)];
}

function addresses(a: AddressObject | AddressObject[] | undefined): Array<{ address: string; name: string }> {
  if (!a) return [];
  const list = Array.isArray(a) ? a : [a];
  const out: Array<{ address: string; name: string }> = [];
  const walk = (vs: AddressObject['value']) => {
    for (const v of vs) {
      if (v.group) walk(v.group);
      else if (v.address) out.push({ address: v.address.toLowerCase(), name: v.name ?? '' });
    }
  };
  for (const o of list) walk(o.value);
  return out;
}

function headerText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? '' : v.toISOString();
  if (v && typeof v === 'object') {
    if ('text' in v && typeof v.text === 'string') return v.text;
    if ('value' in v && typeof v.value === 'string') {
      const params = ('params' in v ? (v.params as Record<string, string>) : null) ?? {};
      return `${v.value}${Object.entries(params)
        .map(([k, p]) => `; ${k}=${p}`)
        .join('')}`;
    }
  }
  return String(v);
}

function emptyParsed(): ParsedMessage {
  return {
    messageId: null,
    inReplyTo: null,
    references: [],
    from: null,
    fromName: null,
    to: [],
    cc: [],
    subject: '',
    date: null,
    text: null,
    html: null,
    headers: {},
    attachments: [],
    deliveryStatus: null,
    parseError: null,
  };
}

async function readSmall(stream: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    if (n < limit) chunks.push(c as Buffer);
    n += (c as Buffer).length;
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit);
}

/**
 * Streams a raw message through mailparser's MailParser (not simpleParser, which holds every
 * attachment in memory): attachments go straight to the blob store. Never throws for bad mail:
 * a broken message comes back with what could be read and `parseError` set.
 */
export async function parseMessage(input: Readable, opts: ParseOptions): Promise<ParsedMessage> {
  const out = emptyParsed();
  const parser = new MailParser({
    keepDeliveryStatus: true,
    maxHtmlLengthToParse: opts.maxHtmlLengthToParse ?? 2 * 1024 * 1024,
    skipTextToHtml: true,
    skipImageLinks: true,
    checksumAlgo: false,
  } as ConstructorParameters<typeof MailParser>[0]);
  const pending: Promise<unknown>[] = [];
  // Attachment streams still being written: mailparser stops at an error (too many parts, an
  // over-long header) and never ends the one it was in, so they are ended here.
  const streaming = new Set<Readable>();
  let rawDates: string[] = [];
  let statusText = '';

  parser.on('headers', (headers: Map<string, unknown>) => {
    for (const [key, v] of headers) {
      // mailparser folds List-* headers into one "list" object; they come from headerLines below.
      if (key === 'list') continue;
      const vals = Array.isArray(v) ? v.map(headerText) : [headerText(v)];
      out.headers[key.toLowerCase()] = vals;
    }
  });
  parser.on('headerLines', (lines: Array<{ key: string; line: string }>) => {
    const raw: Record<string, string[]> = {};
    for (const l of lines) {
      const value = l.line
        .slice(l.line.indexOf(':') + 1)
        .replace(/\r?\n[ \t]+/g, ' ')
        .trim();
      const key = l.key.toLowerCase();
      const list = raw[key] ?? [];
      list.push(value);
      raw[key] = list;
    }
    for (const [k, v] of Object.entries(raw)) if (!(k in out.headers)) out.headers[k] = v;
    rawDates = raw.date ?? [];
  });

  const done = new Promise<void>((resolve) => {
    parser.on('data', (part: AttachmentStream | MessageText) => {
      if (part.type === 'text') {
        out.text = part.text ?? null;
        out.html = typeof part.html === 'string' ? part.html : null;
        return;
      }
      const att = part as AttachmentStream;
      streaming.add(att.content);
      att.content.once('close', () => streaming.delete(att.content));
      att.content.once('end', () => streaming.delete(att.content));
      const isStatus = /^message\/(global-)?delivery-status$/i.test(att.contentType);
      const job = (
        isStatus
          ? readSmall(att.content, MAX_STATUS_BYTES).then(async (s) => {
              statusText += `${s}\n`;
              return opts.blobs.putFile(Buffer.from(s));
            })
          : opts.blobs.putFile(att.content)
      ).then(
        (res) => {
          out.attachments.push({
            sha256: res.sha256,
            filename: att.filename ?? null,
            contentType: att.contentType || 'application/octet-stream',
            size: res.size,
            contentId: att.cid ?? null,
            inline: att.contentDisposition === 'inline' || att.related === true,
          });
        },
        (err: unknown) => {
          out.parseError ??= `attachment: ${errorMessage(err)}`;
        },
      );
      pending.push(job.finally(() => att.release?.()));
    });
    parser.on('end', () => resolve());
    parser.on('error', (err: unknown) => {
      out.parseError ??= errorMessage(err) || 'unreadable MIME structure';
      // Waiting for a half-read attachment would hang ingest (and the IMAP poller) for good.
      for (const s of streaming) s.destroy(new Error('the message broke off inside this attachment'));
      resolve();
    });
  });
  const cleaned = input.pipe(skipLeadingJunk());
  input.on('error', (err) => cleaned.destroy(err));
  cleaned.on('error', (err) => parser.destroy(err));
  cleaned.pipe(parser);
  await done;
  cleaned.unpipe(parser);
  cleaned.resume();
  await Promise.allSettled(pending);
  if (statusText) out.deliveryStatus = statusText;

  fillEnvelope(out, parser, rawDates);
  await repairCharsets(out, opts);
  return out;
}

/** Parses only the header section: for over-size mail that is kept as headers plus a flag. */
export async function parseHeadersOnly(opts: ParseOptions): Promise<ParsedMessage> {
  const { Readable } = await import('node:stream');
  const head = Buffer.concat([headerSection(opts.head), Buffer.from('\r\n\r\n')]);
  const parsed = await parseMessage(Readable.from([head]), opts);
  parsed.text = null;
  parsed.html = null;
  return parsed;
}

/**
 * Drops blank lines and an mbox "From " separator before the first header: files saved by hand
 * or cut from an mbox often start that way, and mailparser would read every header as body.
 * Only the copy fed to the parser changes; the stored raw message keeps its bytes.
 */
function skipLeadingJunk(): Transform {
  let pending: Buffer | null = Buffer.alloc(0);
  const strip = (buf: Buffer): Buffer | null => {
    let i = 0;
    for (;;) {
      const nl = buf.indexOf(10, i);
      if (nl < 0) return null;
      const line = buf.subarray(i, nl).toString('latin1');
      if (line.trim() === '' || (i === 0 && /^From \S/.test(line) && !/^From:/.test(line))) i = nl + 1;
      else return buf.subarray(i);
    }
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (pending === null) return cb(null, chunk);
      const buf = Buffer.concat([pending, chunk]);
      const rest = buf.length > 64 * 1024 ? buf : strip(buf);
      if (rest === null) {
        pending = buf;
        return cb();
      }
      pending = null;
      cb(null, rest);
    },
    flush(cb) {
      if (pending?.length) cb(null, strip(Buffer.concat([pending, Buffer.from('\n')])) ?? pending);
      else cb();
    },
  });
}

function fillEnvelope(out: ParsedMessage, p: MailParser, rawDates: string[]): void {
  const src = p as unknown as Record<string, unknown>;
  out.messageId = cleanMessageId(typeof src.messageId === 'string' ? src.messageId : null);
  out.inReplyTo = splitReferences(src.inReplyTo)[0] ?? null;
  out.references = splitReferences(src.references);
  const from = addresses(src.from as AddressObject | undefined)[0];
  out.from = from?.address ?? null;
  out.fromName = from?.name || null;
  out.to = addresses(src.to as AddressObject | undefined).map((a) => a.address);
  out.cc = addresses(src.cc as AddressObject | undefined).map((a) => a.address);
  out.subject = typeof src.subject === 'string' ? src.subject : '';
  // mailparser puts the current time in place of a Date header it cannot read. That date would
  // change on every fetch, and with it the dedupe key of mail without a Message-ID: the same
  // message stored again at each re-poll. Only a date the header itself gives is kept.
  const readable = rawDates.map((v) => new Date(v).getTime()).filter(Number.isFinite);
  const date = src.date instanceof Date ? src.date.getTime() : Number.NaN;
  out.date = readable.includes(date) ? date : (readable[0] ?? null);
}

async function repairCharsets(out: ParsedMessage, opts: ParseOptions): Promise<void> {
  const hint = declaredCharset(opts.head);
  if (hasReplacement(out.subject)) {
    const fixed = repairHeader(opts.head, 'subject', hint);
    if (fixed && !/=\?[^?]+\?[bq]\?/i.test(fixed)) {
      out.subject = fixed;
      out.headers.subject = [fixed];
    }
  }
  if (hasReplacement(out.fromName)) {
    const fixed = repairHeader(opts.head, 'from', hint);
    const name = fixed ? /^\s*"?([^"<]*?)"?\s*</.exec(fixed)?.[1] : null;
    if (name) out.fromName = name.trim();
  }
  // A single-part body with no declared charset: re-decode the raw bytes (small mail only).
  const ct = rawHeader(opts.head, 'content-type')?.toString('latin1') ?? '';
  const cte = (rawHeader(opts.head, 'content-transfer-encoding')?.toString('latin1') ?? '').toLowerCase();
  if (
    hasReplacement(out.text) &&
    !/charset=/i.test(ct) &&
    !/^multipart\//i.test(ct.trim()) &&
    !/base64|quoted-printable/.test(cte) &&
    opts.loadRaw &&
    opts.size <= MAX_REDECODE_BYTES
  ) {
    const raw = await opts.loadRaw();
    const body = raw
      .subarray(headerSection(raw).length)
      .toString('latin1')
      .replace(/^\r?\n\r?\n/, '');
    const text = decodeGuessing(Buffer.from(body, 'latin1'));
    if (!hasReplacement(text)) out.text = text;
  }
  // A multipart with no usable boundary yields nothing: keep the body as text rather than lose it.
  if (
    !out.text &&
    !out.html &&
    out.attachments.length === 0 &&
    opts.loadRaw &&
    opts.size <= MAX_REDECODE_BYTES
  ) {
    const raw = await opts.loadRaw();
    const body = raw
      .subarray(headerSection(raw).length)
      .toString('latin1')
      .replace(/^\r?\n\r?\n/, '');
    if (body.trim()) out.text = decodeGuessing(Buffer.from(body, 'latin1'), declaredCharset(raw));
  }
}
