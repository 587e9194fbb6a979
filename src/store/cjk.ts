import type Database from 'better-sqlite3';

/**
 * Short Chinese, Japanese and Korean search terms (migration 0016). Most Chinese words are two
 * characters, which the trigram index cannot match, so the text of every message is also indexed as
 * the overlapping character pairs of its CJK runs, in the FTS5 table messages_cjk.
 *
 * A CJK character here is a letter or number (so not the CJK punctuation 、。「」・) of the Han,
 * Hiragana, Katakana or Hangul scripts, with their shared marks (々, ー).
 */
const CJK_CHAR = String.raw`(?=[\p{L}\p{N}])[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}]`;
const CJK_RUN = new RegExp(`(?:${CJK_CHAR})+`, 'gu');
const ONLY_CJK = new RegExp(`^(?:${CJK_CHAR})+$`, 'u');

/** True when every character of `term` is a CJK character (see above); false for ''. */
export function isCjkTerm(term: string): boolean {
  return ONLY_CJK.test(term);
}

/**
 * The words messages_cjk holds for some texts: for every run of CJK characters its overlapping
 * pairs and its last character alone ("申请退款" -> "申请 请退 退款 款"; a run of one character is that
 * character), space-separated. Every character of a run thus begins one word, so a one-character
 * term is the prefix query `退*` and a two-character term is the word itself. Each argument is read
 * on its own (no pair spans subject and body), and anything that is not CJK separates runs.
 *
 * Changing what this returns changes what the index holds: it then needs a migration that rebuilds
 * messages_cjk (deletes go by rowid, so an old row is still removed correctly before that).
 */
export function cjkBigrams(...texts: unknown[]): string {
  const out: string[] = [];
  for (const text of texts) {
    if (typeof text !== 'string' || text === '') continue;
    for (const m of text.matchAll(CJK_RUN)) {
      const run = m[0];
      // Code points, not UTF-16 units: characters beyond the BMP (CJK extensions B+) are pairs.
      const chars = run.length === 1 ? [run] : Array.from(run);
      for (let i = 0; i + 1 < chars.length; i++) out.push(`${chars[i]}${chars[i + 1]}`);
      out.push(chars[chars.length - 1] as string);
    }
  }
  return out.join(' ');
}

/**
 * Registers the SQL functions the schema's triggers call (cjk_bigrams) on a connection. Every
 * connection that writes messages needs them, and migrations need them before they run:
 * openDatabase does it; a connection opened another way must call this itself.
 */
export function registerStoreFunctions(db: Database.Database): void {
  db.function('cjk_bigrams', { deterministic: true, varargs: true }, (...args: unknown[]) =>
    cjkBigrams(...args),
  );
}
