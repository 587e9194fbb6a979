import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { compileRules, formatGoldenFailures, loadRules, runGoldenTests } from '../../src/rules/index.ts';
import { tempDir } from '../harness/index.ts';

const TEMPLATES = ['acknowledgement', 'thank-you'];

describe('shipped rules and their golden tests', () => {
  it('load without errors, with only known templates', () => {
    const set = loadRules(path.join(PROJECT_ROOT, 'rules'), { knownTemplates: TEMPLATES });
    expect(set.rules.length).toBeGreaterThan(5);
  });

  it('pass every golden test in rules/tests', async () => {
    const set = loadRules(path.join(PROJECT_ROOT, 'rules'), { knownTemplates: TEMPLATES });
    const results = await runGoldenTests(path.join(PROJECT_ROOT, 'rules', 'tests'), set);
    expect(formatGoldenFailures(results)).toEqual([]);
    // every department and urgency has at least one golden test
    const decided = results.map((r) => r.decision);
    for (const d of ['sales', 'customer_service', 'pr', 'hr', 'finance'])
      expect(decided.some((x) => x?.department === d)).toBe(true);
    for (const u of ['urgent', 'normal', 'thanks']) expect(decided.some((x) => x?.urgency === u)).toBe(true);
  });
});

describe('golden test runner', () => {
  it('fails a case whose expectation a rules change broke, naming file, line and difference', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'tests'));
    writeFileSync(
      path.join(dir, 'tests', 'money.yaml'),
      'tests:\n  - name: ok\n    input: { subject: invoice }\n    expect: { department: finance }\n  - name: broken\n    input: { subject: 發票 }\n    expect: { department: finance, tags: [money] }\n',
    );
    const set = compileRules([
      {
        file: 'r.yaml',
        text: 'rules:\n  - { name: inv, when: { subject: { contains: invoice } }, then: { department: finance } }\n',
      },
    ]);
    const results = await runGoldenTests(path.join(dir, 'tests'), set);
    expect(results.map((r) => r.ok)).toEqual([true, false]);
    expect(formatGoldenFailures(results)).toEqual([
      'tests/money.yaml:5: broken: department: expected finance, got customer_service',
      'tests/money.yaml:5: broken: tags: expected "money", got []',
    ]);
  });
});
