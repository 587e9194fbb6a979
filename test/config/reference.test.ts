import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configKeys, configReferenceMarkdown, KEY_DOCS, PROJECT_ROOT } from '../../src/config/index.ts';

describe('configuration reference', () => {
  it('documents every key of the schema', () => {
    const undocumented = configKeys()
      .map((r) => r.key)
      .filter((k) => !KEY_DOCS[k]);
    expect(undocumented).toEqual([]);
  });

  it('is what README.md shows (regenerate with: node --import tsx scripts/config-reference.ts)', () => {
    const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
    const block = /<!-- config-reference:start -->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(
      readme,
    )?.[1];
    expect(block).toBe(configReferenceMarkdown());
  });
});
