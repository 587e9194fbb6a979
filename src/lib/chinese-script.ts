import * as OpenCC from 'opencc-js';

/**
 * Which Chinese characters are Traditional forms, and their Simplified counterparts: a per-character
 * table taken from opencc-js (Taiwan and Hong Kong variants into mainland Simplified). The rules
 * engine folds text with it; ingest uses it to tell a Traditional writer from a Simplified one.
 *
 * OpenCC's phrase-level conversion costs ~0.1 ms per 500 characters; a character table applied in a
 * single pass is what matching at tens of thousands of messages per second can afford.
 */

const CJK_RANGES: Array<[number, number]> = [
  [0x3400, 0x9fff],
  [0xf900, 0xfaff],
];

/** table[c] is the Simplified form of Traditional character c, or 0 when c has no other form. */
let table: Uint16Array | undefined;
/** Characters that are the Simplified form of some different Traditional character. */
let simplifiedForms: Uint8Array | undefined;

// A constant derived from library data, not a service: building it takes ~100 ms, so it is built
// once per process on first use and shared.
function build(): Uint16Array {
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

export function traditionalToSimplifiedTable(): Uint16Array {
  table ??= build();
  return table;
}

function simplifiedOnly(): Uint8Array {
  if (!simplifiedForms) {
    const t = traditionalToSimplifiedTable();
    const s = new Uint8Array(0x10000);
    for (let c = 0; c < t.length; c++) {
      const simple = t[c] as number;
      // A character that maps to itself in the table (or is a target and a source) is shared.
      if (simple !== 0 && t[simple] === 0) s[simple] = 1;
    }
    simplifiedForms = s;
  }
  return simplifiedForms;
}

const HAN = /\p{Script=Han}/u;

/**
 * The Chinese script a text is written in, judged from its characters: 'zh-TW' when Traditional-only
 * forms outnumber Simplified-only ones, 'zh-CN' for the reverse, null when the text has too little
 * Chinese to tell (under 4 Han characters, or under a fifth of its letters) or the two are level.
 * The first 4,000 characters are enough to tell, and keep this cheap on every inbound mail.
 */
export function chineseScriptOf(text: string): 'zh-CN' | 'zh-TW' | null {
  const t = traditionalToSimplifiedTable();
  const simple = simplifiedOnly();
  let han = 0;
  let letters = 0;
  let traditional = 0;
  let simplified = 0;
  for (const ch of text.slice(0, 4_000)) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && c >= 0x3400 && HAN.test(ch)) {
      han++;
      letters++;
      if (t[c]) traditional++;
      else if (simple[c]) simplified++;
    } else if (/\p{L}/u.test(ch)) letters++;
  }
  if (han < 4 || han * 5 < letters) return null;
  if (traditional > simplified) return 'zh-TW';
  if (simplified > traditional) return 'zh-CN';
  return null;
}
