import { compileRules, type RuleInput, type RuleSet } from '../../src/rules/index.ts';

export function rules(yaml: string, opts: Parameters<typeof compileRules>[1] = {}): RuleSet {
  return compileRules([{ file: '/x/10-test.yaml', text: yaml }], opts);
}

export function mail(over: Partial<RuleInput> = {}): RuleInput {
  return {
    from: 'customer@example.com',
    to: ['support@shop.example'],
    cc: [],
    subject: '',
    text: '',
    headers: {},
    attachments: [],
    size: 1000,
    flags: [],
    ...over,
  };
}

export function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error');
}
