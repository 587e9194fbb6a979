import { traditionalToSimplifiedTable } from '../lib/index.ts';

/**
 * Text folding shared by keywords and mail, so one keyword list serves every way customers write:
 * NFKC folds full-width Latin and digits (ＲＥＦＵＮＤ１２) to ASCII, lower-casing folds case, and
 * Traditional Chinese characters fold to Simplified (退款/發票 -> 发票).
 *
 * The Traditional -> Simplified step is a per-character table (src/lib/chinese-script.ts): for
 * matching, what matters is that keyword and text fold the same way, and one table applied to both
 * guarantees that.
 */

export type Normaliser = (text: string) => string;

const NEEDS_NFKC = /[^\u0000-\u007f]/;

export function createNormaliser(): Normaliser {
  const t = traditionalToSimplifiedTable();
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
