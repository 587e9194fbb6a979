import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createNormaliser, KeywordAutomaton } from '../../src/rules/index.ts';

const isWord = (c: string | undefined) => c !== undefined && /[a-z0-9_]/.test(c);

/** The slow, obviously right answer: every occurrence, with the same boundary rule. */
function naive(patterns: string[], text: string): Set<number> {
  const out = new Set<number>();
  patterns.forEach((p, id) => {
    for (let i = text.indexOf(p); i >= 0; i = text.indexOf(p, i + 1)) {
      const startOk = !isWord(p[0]) || !isWord(text[i - 1]);
      const endOk = !isWord(p[p.length - 1]) || !isWord(text[i + p.length]);
      if (startOk && endOk) {
        out.add(id);
        break;
      }
    }
  });
  return out;
}

describe('keyword automaton', () => {
  it('finds exactly what a naive search with word boundaries finds', () => {
    const alphabet = fc.constantFrom('a', 'b', ' ', '退', '款', '.');
    const word = fc.array(alphabet, { minLength: 1, maxLength: 4 }).map((a) => a.join(''));
    fc.assert(
      fc.property(
        fc.uniqueArray(word, { minLength: 1, maxLength: 8 }),
        fc.array(alphabet, { maxLength: 40 }),
        (pats, t) => {
          const ac = new KeywordAutomaton();
          for (const p of pats) ac.add(p);
          ac.build();
          const text = t.join('');
          expect([...ac.scan(text)].sort()).toEqual([...naive(pats, text)].sort());
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives the same id to keywords that normalise alike', () => {
    const n = createNormaliser();
    const ac = new KeywordAutomaton();
    expect(ac.add(n('發票'))).toBe(ac.add(n('发票')));
    expect(ac.add(n('ＲＥＦＵＮＤ'))).toBe(ac.add(n('refund')));
  });
});
