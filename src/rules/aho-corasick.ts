import { isWordChar } from './normalise.ts';

/**
 * Aho-Corasick automaton over UTF-16 code units: every keyword of every rule is found in one pass
 * over the text, however many rules there are.
 *
 * Keywords whose first or last character is a Latin word character only match on a word boundary
 * at that end, so `bill` does not fire on `billion`; CJK ends match anywhere.
 */
export class KeywordAutomaton {
  private readonly ids = new Map<string, number>();
  private readonly patterns: string[] = [];
  // Transitions keyed by node * 65536 + code unit: one Map lookup per character.
  private readonly goto = new Map<number, number>();
  private fail: Int32Array = new Int32Array(1);
  private out: number[][] = [[]];
  private nodeCount = 1;
  private built = false;
  private boundaryStart: Uint8Array = new Uint8Array(0);
  private boundaryEnd: Uint8Array = new Uint8Array(0);

  /** Adds a normalised keyword; returns its pattern id (the same id for the same text). */
  add(pattern: string): number {
    if (this.built) throw new Error('automaton already built');
    if (pattern.length === 0) throw new Error('empty keyword');
    const known = this.ids.get(pattern);
    if (known !== undefined) return known;
    const id = this.patterns.length;
    this.patterns.push(pattern);
    this.ids.set(pattern, id);
    let node = 0;
    for (let i = 0; i < pattern.length; i++) {
      const key = node * 65536 + pattern.charCodeAt(i);
      let next = this.goto.get(key);
      if (next === undefined) {
        next = this.nodeCount++;
        this.goto.set(key, next);
        this.out.push([]);
      }
      node = next;
    }
    (this.out[node] as number[]).push(id);
    return id;
  }

  get size(): number {
    return this.patterns.length;
  }

  build(): this {
    const fail = new Int32Array(this.nodeCount);
    // Breadth-first over the trie: a node's fail link is the longest proper suffix that is a prefix.
    const children = new Map<number, Array<[number, number]>>();
    for (const [key, child] of this.goto) {
      const parent = Math.floor(key / 65536);
      const list = children.get(parent) ?? [];
      list.push([key % 65536, child]);
      children.set(parent, list);
    }
    const queue: number[] = [];
    for (const [, child] of children.get(0) ?? []) {
      fail[child] = 0;
      queue.push(child);
    }
    for (let qi = 0; qi < queue.length; qi++) {
      const node = queue[qi] as number;
      for (const [code, child] of children.get(node) ?? []) {
        let f = fail[node] as number;
        let target = this.goto.get(f * 65536 + code);
        while (target === undefined && f !== 0) {
          f = fail[f] as number;
          target = this.goto.get(f * 65536 + code);
        }
        fail[child] = target !== undefined && target !== child ? target : 0;
        const inherited = this.out[fail[child] as number] as number[];
        if (inherited.length) (this.out[child] as number[]).push(...inherited);
        queue.push(child);
      }
    }
    this.fail = fail;
    this.boundaryStart = new Uint8Array(this.patterns.length);
    this.boundaryEnd = new Uint8Array(this.patterns.length);
    this.patterns.forEach((p, id) => {
      this.boundaryStart[id] = isWordChar(p.charCodeAt(0)) ? 1 : 0;
      this.boundaryEnd[id] = isWordChar(p.charCodeAt(p.length - 1)) ? 1 : 0;
    });
    this.built = true;
    return this;
  }

  /** Pattern ids found in normalised text, respecting Latin word boundaries. */
  scan(text: string, found: Set<number> = new Set()): Set<number> {
    if (!this.built) throw new Error('automaton not built');
    if (this.patterns.length === 0) return found;
    const { goto, fail, out, patterns } = this;
    let node = 0;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      let next = goto.get(node * 65536 + code);
      while (next === undefined && node !== 0) {
        node = fail[node] as number;
        next = goto.get(node * 65536 + code);
      }
      node = next ?? 0;
      const hits = out[node] as number[];
      if (hits.length === 0) continue;
      for (const id of hits) {
        if (found.has(id)) continue;
        const len = (patterns[id] as string).length;
        if (this.boundaryStart[id] && i - len >= 0 && isWordChar(text.charCodeAt(i - len))) continue;
        if (this.boundaryEnd[id] && i + 1 < text.length && isWordChar(text.charCodeAt(i + 1))) continue;
        found.add(id);
      }
    }
    return found;
  }
}
