import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMailroomError, ManualClock, silentLogger } from '../../src/lib/index.ts';
import {
  compileRules,
  createRulesRuntime,
  evaluate,
  lastReloadError,
  loadRules,
} from '../../src/rules/index.ts';
import { tempDir } from '../harness/index.ts';
import { errorOf, mail } from './helpers.ts';

const check = (text: string, opts = {}) =>
  errorOf(() => compileRules([{ file: '/r/20-shop.yaml', text }], opts));

describe('rules loader: refuses bad files with file, line, column and reason', () => {
  it('reports a YAML syntax error', () => {
    const msg = check('rules:\n  - name: a\n    when: { subject: { contains: x }\n');
    expect(msg).toMatch(/^invalid rules: 20-shop\.yaml:\d+:\d+: /);
  });

  it('reports an unknown field at its line', () => {
    const msg = check(
      'rules:\n  - name: a\n    when: { subject: { contains: x } }\n    then:\n      department: sales\n      tgas: [x]\n',
    );
    expect(msg).toBe('invalid rules: 20-shop.yaml:6:7: rules[0].then.tgas: unknown field "tgas"');
  });

  it('reports an unknown department', () => {
    const msg = check(
      'rules:\n  - name: a\n    when: { subject: { contains: x } }\n    then: { department: legal }\n',
    );
    expect(msg).toContain('20-shop.yaml:4:');
    expect(msg).toContain('expected one of "sales", "customer_service", "pr", "hr", "finance", got "legal"');
  });

  it('reports an unknown template only when the known templates are given', () => {
    const text =
      'rules:\n  - name: a\n    when: { subject: { contains: x } }\n    then: { auto_reply: welcome }\n';
    expect(check(text, { knownTemplates: ['acknowledgement', 'thank-you'] })).toContain(
      '20-shop.yaml:4:13: rules[0].then.auto_reply: unknown template "welcome"; known: acknowledgement, thank-you',
    );
    expect(() => compileRules([{ file: 'x.yaml', text }])).not.toThrow();
  });

  it('reports a bad regular expression and an unknown condition', () => {
    const msg = check(
      'rules:\n  - name: a\n    when:\n      subject: { matches: "(unclosed" }\n      sender: { contains: x }\n    then: { department: sales }\n',
    );
    expect(msg).toContain('20-shop.yaml:4:18: rules[0].when.subject.matches: bad regular expression');
    expect(msg).toContain('20-shop.yaml:5:7: rules[0].when.sender: unknown condition "sender"');
  });

  it('reports duplicate rule names across files and unknown operators', () => {
    const err = (() => {
      try {
        compileRules([
          {
            file: 'a.yaml',
            text: 'rules:\n  - { name: x, when: { subject: { contains: a } }, then: { tags: [a] } }\n',
          },
          {
            file: 'b.yaml',
            text: 'rules:\n  - { name: x, when: { subject: { has: a } }, then: { tags: [a] } }\n',
          },
        ]);
      } catch (e) {
        return e;
      }
    })();
    expect(isMailroomError(err, 'RULES_INVALID')).toBe(true);
    const problems = (err as { details: { problems: unknown[] } }).details.problems;
    expect(problems).toContainEqual(
      expect.objectContaining({
        file: 'b.yaml',
        line: 2,
        reason: expect.stringContaining('already used in a.yaml'),
      }),
    );
    expect(problems).toContainEqual(
      expect.objectContaining({ file: 'b.yaml', reason: expect.stringContaining('unknown operator "has"') }),
    );
  });
});

describe('rules runtime', () => {
  const good =
    'rules:\n  - { name: r, when: { subject: { contains: refund } }, then: { department: finance } }\n';

  it('loads files in file-name order so earlier files win ties', () => {
    const dir = tempDir();
    writeFileSync(
      path.join(dir, '20-b.yaml'),
      'rules:\n  - { name: b, when: { subject: { contains: x } }, then: { department: sales } }\n',
    );
    writeFileSync(
      path.join(dir, '10-a.yaml'),
      'rules:\n  - { name: a, when: { subject: { contains: x } }, then: { department: hr } }\n',
    );
    const set = loadRules(dir);
    expect(set.files).toEqual(['10-a.yaml', '20-b.yaml']);
    expect(evaluate(set, mail({ subject: 'x' })).department).toBe('hr');
  });

  it('keeps the running rules when a reload finds a bad file, and reports the error until fixed', () => {
    const dir = tempDir();
    const file = path.join(dir, 'rules.yaml');
    writeFileSync(file, good);
    const rt = createRulesRuntime({ dir, logger: silentLogger(), clock: new ManualClock() });
    writeFileSync(
      file,
      `${good}  - { name: s, when: { subject: { matches: "[" } }, then: { department: sales } }\n`,
    );
    const res = rt.reload();
    expect(res.ok).toBe(false);
    expect(lastReloadError(rt)?.message).toContain('rules.yaml:3:');
    expect(evaluate(rt.current(), mail({ subject: 'refund' })).department).toBe('finance');
    writeFileSync(file, good.replace('finance', 'sales'));
    expect(rt.reload().ok).toBe(true);
    expect(lastReloadError(rt)).toBeNull();
    expect(evaluate(rt.current(), mail({ subject: 'refund' })).department).toBe('sales');
    rt.close();
  });

  it('reloads by itself when a watched file changes', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'rules.yaml');
    writeFileSync(file, good);
    const rt = createRulesRuntime({
      dir,
      logger: silentLogger(),
      clock: new ManualClock(),
      watch: true,
      debounceMs: 20,
    });
    writeFileSync(file, good.replace('finance', 'hr'));
    await expect
      .poll(() => evaluate(rt.current(), mail({ subject: 'refund' })).department, { timeout: 5000 })
      .toBe('hr');
    rt.close();
  });
});
