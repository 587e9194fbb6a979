import * as OpenCC from 'opencc-js';

/**
 * Text folding shared by keywords and mail, so one keyword list serves every way customers write:
 * NFKC folds full-width Latin and digits (ＲＥＦＵＮＤ１２) to ASCII, lower-casing folds case, and
 * Traditional Chinese characters fold to Simplified (退款/發票 -> 发票).
 *
 * The Traditional -> Simplified step is a per-character table taken from opencc-js (Taiwan and Hong
 * Kong variants into mainland Simplified). OpenCC's phrase-level conversion costs ~0.1 ms per 500
 * characters, which alone would miss the 20,000 messages/s target; for matching, what matters is that
 * keyword and text fold the same way, and a character table applied to both guarantees that.
 */

const CJK_RANGES: Array<[number, number]> = [
  [0x3400, 0x9fff],
  [0xf900, 0xfaff],
];

// A lookup table is a constant derived from library data, not a service: building it takes ~100 ms,
// so it is built once per process on first use and shared.
let table: Uint16Array | undefined;

function buildTable(): Uint16Array {
  const tw = OpenCC.Converter({ from: 'tw', to: 'cn' });
  const hk = OpenCC.Converter({ from: 'hk', to: 'cn' });
  const chars: string[] = [];
  for (const [lo, hi] of CJK_RANGES) for (let c = lo; c <= hi; c++) chars.push(String.fromCharCode(c));
  const joined = chars.join('\n');
  const viaTw = tw(joined).split('\n');
  const viaHk = hk(joined).split('\n');
  const out = new Uint16Array(0x10000);
  chars.forEach((ch, i) => {
    const a = viaTw[i];
    const b = viaHk[i];
    const pick = a !== undefined && a !== ch ? a : b;
    if (pick !== undefined && pick !== ch && pick.length === 1) out[ch.charCodeAt(0)] = pick.charCodeAt(0);
  });
  return out;
}

function cjkTable(): Uint16Array {
  table ??= buildTable();
  return table;
}

export type Normaliser = (text: string) => string;

const NEEDS_NFKC = /[^\u0000-\u007f]/;

export function createNormaliser(): Normaliser {
  const t = cjkTable();
  return (text: string): string => {
    const s = (NEEDS_NFKC.test(text) ? text.normalize('NFKC') : text).toLowerCase();
    let out: string[] | null = null;
    let last = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x3400) continue;
      const m = t[c];
      if (m === undefined || m === 0) continue;
      out ??= [];
      out.push(s.slice(last, i), String.fromCharCode(m));
      last = i + 1;
    }
    if (out === null) return s;
    out.push(s.slice(last));
    return out.join('');
  };
}

const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

/**
 * A character that makes up a Latin-script word. CJK and kana are not: they are written without
 * spaces, so a keyword in those scripts matches inside running text.
 */
export function isWordChar(code: number): boolean {
  if (code < 0x80) {
    return (
      (code >= 0x61 && code <= 0x7a) ||
      (code >= 0x30 && code <= 0x39) ||
      code === 0x5f ||
      (code >= 0x41 && code <= 0x5a)
    );
  }
  if (code >= 0x2e80) return false;
  return LETTER_OR_DIGIT.test(String.fromCharCode(code));
}
