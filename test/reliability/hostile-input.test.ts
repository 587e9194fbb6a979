import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORPORA, setup } from './helpers.ts';

const NOT_MAIL =
  /(^|\/)(LICENSE[^/]*|MIT-LICENSE|README[^/]*|SOURCES\.tsv|\.gitattributes)$|\.(png|wav|md)$/i;

function mailFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((f) => {
      const p = path.join(dir, f);
      return statSync(p).isDirectory() ? mailFiles(p) : [p];
    })
    .filter((p) => !NOT_MAIL.test(p));
}

describe.skipIf(!statSync(CORPORA, { throwIfNoEntry: false }))('third-party mail corpora', () => {
  it('every message is stored, or counted as a duplicate, with no crash and nothing lost', {
    timeout: 180_000,
  }, async () => {
    const t = setup();
    const list = mailFiles(CORPORA);
    expect(list.length).toBeGreaterThan(500);
    const counts = { stored: 0, duplicate: 0, parseError: 0 };
    for (const f of list) {
      const r = await t.pipeline.ingestRaw(readFileSync(f), { kind: 'import', file: f });
      counts[r.status]++;
      if (r.flags.includes('parse_error')) counts.parseError++;
    }
    expect(counts.stored + counts.duplicate).toBe(list.length);
    const stored = t.db.prepare("SELECT count(*) n FROM messages WHERE direction = 'in'").get() as {
      n: number;
    };
    expect(stored.n).toBe(counts.stored);
    // Every stored message keeps its raw copy, readable for reprocessing.
    const shas = t.db.prepare('SELECT raw_sha256 FROM messages').all() as Array<{ raw_sha256: string }>;
    expect(shas.every((s) => t.blobs.has(s.raw_sha256))).toBe(true);
  });

  it('CJK list mail (Big5, GBK, GB2312, GB18030, ISO-2022-JP, KS C 5601) decodes without replacement characters', {
    timeout: 120_000,
  }, async () => {
    const t = setup();
    const bad: string[] = [];
    for (const f of mailFiles(path.join(CORPORA, 'cjk'))) {
      const r = await t.pipeline.ingestRaw(readFileSync(f), { kind: 'import', file: f });
      const row = t.db.prepare('SELECT subject, text_body FROM messages WHERE id = ?').get(r.messageId) as {
        subject: string;
        text_body: string | null;
      };
      if (`${row.subject}${row.text_body ?? ''}`.includes('\uFFFD')) bad.push(path.basename(f));
    }
    expect(bad).toEqual([]);
  });
});
