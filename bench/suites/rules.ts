import { readFileSync } from 'node:fs';
// Rules engine throughput: messages/s classified with the shipped rules and with 500 generated
// rules, beside a baseline that only lower-cases each message and scans it once.
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { compileRules, evaluate, loadRules, type RuleInput, type RuleSet } from '../../src/rules/index.ts';
import { rng } from '../lib.ts';

const SAMPLES = 7;
const MESSAGES = 3000;

const EN =
  'the order price refund invoice parcel please thanks broken kettle delivery stock quote when where how much my your we you hello team week store customer shipping return payment receipt job press'.split(
    ' ',
  );
const ZH =
  '您好请问订单价格退款发票包裹快递谢谢坏了产品库存报价我们你们的是在有没收到什么时候可以帮忙处理客服問題訂單價格發票謝謝產品記者應徵履歷'.split(
    '',
  );

function corpus(n: number): RuleInput[] {
  const r = rng(42);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)] as T;
  const out: RuleInput[] = [];
  for (let i = 0; i < n; i++) {
    const zh = r() < 0.6;
    const words = (k: number) =>
      Array.from({ length: k }, () => (zh && r() < 0.8 ? pick(ZH) + pick(ZH) : pick(EN))).join(zh ? '' : ' ');
    const body = Array.from(
      { length: 4 + Math.floor(r() * 8) },
      () => `${words(10)}${zh ? '。' : '. '}`,
    ).join('\n');
    out.push({
      from: `c${i}@example.com`,
      to: ['support@shop.example'],
      cc: [],
      subject: words(5),
      text: body,
      headers: {},
      attachments: [],
      size: body.length * 2,
      flags: r() < 0.05 ? ['bulk'] : [],
    });
  }
  return out;
}

function generatedRules(n: number): RuleSet {
  const r = rng(7);
  const deps = ['sales', 'customer_service', 'pr', 'hr', 'finance'];
  const lines = ['rules:'];
  for (let i = 0; i < n; i++) {
    const kws = Array.from({ length: 4 }, () =>
      r() < 0.5
        ? `${String.fromCharCode(0x4e00 + Math.floor(r() * 2000))}${String.fromCharCode(0x4e00 + Math.floor(r() * 2000))}`
        : `w${Math.floor(r() * 1e6).toString(36)}`,
    );
    const field = r() < 0.5 ? 'any_text' : 'subject';
    const then = r() < 0.5 ? `department: ${deps[i % 5]}` : 'urgency: urgent';
    lines.push(
      `  - { name: g${i}, when: { ${field}: { contains_any: [${kws.join(', ')}] } }, then: { ${then}, tags: [t${i % 20}] } }`,
    );
  }
  // plus the shipped department keywords, so some mail matches
  return compileRules([
    { file: 'generated.yaml', text: lines.join('\n') },
    ...['20-departments.yaml', '10-urgency.yaml'].map((f) => ({
      file: f,
      text: readShipped(f),
    })),
  ]);
}

function readShipped(f: string): string {
  return readFileSync(path.join(PROJECT_ROOT, 'rules', f), 'utf8');
}

function timedPass(fn: (m: RuleInput) => unknown, msgs: RuleInput[]): number {
  const t0 = process.hrtime.bigint();
  let sink = 0;
  for (const m of msgs) sink += fn(m) ? 1 : 0;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (sink < 0) throw new Error('unreachable');
  return msgs.length / secs;
}

function baseline(m: RuleInput): number {
  const s = `${m.subject}\n${m.text}`.toLowerCase();
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h + s.charCodeAt(i)) | 0;
  return h;
}

function measure(set: RuleSet, msgs: RuleInput[]): { samples: number[]; baselineSamples: number[] } {
  const classify = (m: RuleInput) => evaluate(set, m).department;
  timedPass(classify, msgs);
  timedPass(baseline, msgs);
  const samples: number[] = [];
  const baselineSamples: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    samples.push(timedPass(classify, msgs));
    baselineSamples.push(timedPass(baseline, msgs));
  }
  return { samples, baselineSamples };
}

export async function run(): Promise<{
  name: string;
  figures: Array<{
    name: string;
    unit: string;
    samples: number[];
    baselineSamples?: number[];
    target?: string;
  }>;
}> {
  const msgs = corpus(MESSAGES);
  const shipped = loadRules(path.join(PROJECT_ROOT, 'rules'));
  const big = generatedRules(500);
  return {
    name: 'rules',
    figures: [
      { name: `classify, shipped rules (${shipped.rules.length})`, unit: 'msg/s', ...measure(shipped, msgs) },
      {
        name: `classify, 500 generated rules (+shipped, ${big.rules.length} total)`,
        unit: 'msg/s',
        target: '>= 20,000',
        ...measure(big, msgs),
      },
    ],
  };
}
