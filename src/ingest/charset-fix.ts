import iconv from 'iconv-lite';

/**
 * Charset repair for what mailparser cannot know: 8-bit bytes with no declared charset (raw 8-bit
 * Subject or From names, bodies without `charset=`). mailparser reads those as UTF-8 and yields
 * U+FFFD (see ENGINEERING-NOTES); we keep the raw bytes and decode them again here.
 */

const REPLACEMENT = '\uFFFD';

export function hasReplacement(s: string | null | undefined): boolean {
  return typeof s === 'string' && s.includes(REPLACEMENT);
}

function isUtf8(buf: Buffer): boolean {
  return !iconv.decode(buf, 'utf8').includes(REPLACEMENT);
}

/**
 * Guesses the charset of 8-bit bytes. GBK and Big5 share lead bytes, so neither decode fails on
 * the other; what separates them is the trail byte: Big5's frequent characters often have a
 * trail in 0x40-0x7E, while GB2312 (the common core of GBK/GB18030) only uses 0xA1-0xFE.
 */
export function guessCharset(buf: Buffer, hint?: string | null): string {
  if (hint && iconv.encodingExists(hint) && !/^(us-?ascii|utf-?8)$/i.test(hint)) {
    if (!iconv.decode(buf, hint).includes(REPLACEMENT)) return hint;
  }
  if (isUtf8(buf)) return 'utf8';
  let pairs = 0;
  let lowTrail = 0;
  let singles = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i] as number;
    if (b < 0x80) continue;
    const t = buf[i + 1];
    if (b >= 0x81 && b <= 0xfe && t !== undefined && t >= 0x40 && t <= 0xfe && t !== 0x7f) {
      pairs++;
      if (t < 0x80) lowTrail++;
      i++;
    } else singles++;
  }
  if (pairs === 0 || singles > pairs) return 'windows-1252';
  return lowTrail / pairs > 0.1 ? 'big5' : 'gb18030';
}

export function decodeGuessing(buf: Buffer, hint?: string | null): string {
  return iconv.decode(buf, guessCharset(buf, hint));
}

/** The header section of a raw message (up to the first empty line). */
export function headerSection(raw: Buffer): Buffer {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  const ends = [crlf, lf].filter((n) => n >= 0);
  return ends.length ? raw.subarray(0, Math.min(...ends)) : raw;
}

/** The unfolded raw bytes of the first header called `name` (case-insensitive). */
export function rawHeader(raw: Buffer, name: string): Buffer | null {
  const head = headerSection(raw).toString('latin1');
  const re = new RegExp(
    `(?:^|\\n)${name.replace(/-/g, '\\-')}:[ \\t]*((?:[^\\n]*)(?:\\n[ \\t][^\\n]*)*)`,
    'i',
  );
  const m = re.exec(head);
  if (!m || m[1] === undefined) return null;
  return Buffer.from(m[1].replace(/\r?\n[ \t]+/g, ' ').replace(/\r$/, ''), 'latin1');
}

/** Decodes a raw 8-bit header value; RFC 2047 words in the same value stay for mailparser. */
export function repairHeader(raw: Buffer, name: string, hint?: string | null): string | null {
  const bytes = rawHeader(raw, name);
  if (!bytes) return null;
  return decodeGuessing(bytes, hint).trim();
}

/** The charset= parameter of the top-level Content-Type, if any. */
export function declaredCharset(raw: Buffer): string | null {
  const ct = rawHeader(raw, 'content-type')?.toString('latin1') ?? '';
  const m = /charset\s*=\s*"?([^";\s]+)/i.exec(ct);
  return m?.[1] ?? null;
}
