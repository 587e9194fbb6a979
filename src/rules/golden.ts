import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { isMap, isSeq, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { Departments, Urgencies } from '../config/index.ts';
import { evaluate } from './engine.ts';
import { fromParsedMail } from './from-parsed-mail.ts';
import type { Decision, RuleInput, RuleSet } from './types.ts';

/**
 * Golden tests: rules/tests/*.yaml pairs of a message (inline, or an .eml path relative to the test
 * file) and the outcome staff expect. `mailroom rules check` and the test suite both run them, so a
 * rules change that breaks an expectation is caught before it goes live.
 */

const inputSchema = z
  .object({
    from: z.string().default('customer@example.com'),
    from_name: z.string().optional(),
    to: z.array(z.string()).default(['support@shop.example']),
    cc: z.array(z.string()).default([]),
    subject: z.string().default(''),
    body: z.string().default(''),
    html: z.string().optional(),
    headers: z.record(z.string(), z.union([z.string(), z.array(z.string())])).default({}),
    attachments: z
      .array(
        z.object({ filename: z.string().optional(), type: z.string(), size: z.number().default(0) }).strict(),
      )
      .default([]),
    size: z.number().optional(),
    flags: z.array(z.string()).default([]),
    customer: z
      .object({ segments: z.array(z.string()).default([]), vip: z.boolean().default(false) })
      .strict()
      .optional(),
  })
  .strict();

const expectSchema = z
  .object({
    department: z.enum(Departments).optional(),
    urgency: z.enum(Urgencies).optional(),
    /** Tags that must be present (others may be too). */
    tags: z.array(z.string()).optional(),
    /** Tags that must not be present. */
    not_tags: z.array(z.string()).optional(),
    auto_reply: z.string().nullable().optional(),
    copy_to: z.array(z.enum(Departments)).optional(),
  })
  .strict();

const caseSchema = z
  .object({
    name: z.string().min(1),
    input: inputSchema.optional(),
    eml: z.string().optional(),
    expect: expectSchema,
  })
  .strict()
  .refine((c) => (c.input === undefined) !== (c.eml === undefined), 'needs exactly one of input or eml');

const fileSchema = z.object({ tests: z.array(caseSchema) }).strict();

export interface GoldenResult {
  file: string;
  line: number;
  name: string;
  ok: boolean;
  /** What differed, or why the case could not run. */
  failures: string[];
  decision?: Decision;
}

function inlineInput(i: z.infer<typeof inputSchema>): RuleInput {
  const headers: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(i.headers)) headers[k.toLowerCase()] = Array.isArray(v) ? v : [v];
  const input: RuleInput = {
    from: i.from.toLowerCase(),
    to: i.to,
    cc: i.cc,
    subject: i.subject,
    text: i.body,
    headers,
    attachments: i.attachments.map((a) => ({
      ...(a.filename ? { filename: a.filename } : {}),
      contentType: a.type,
      size: a.size,
    })),
    size: i.size ?? i.subject.length + i.body.length,
    flags: i.flags,
  };
  if (i.from_name) input.fromName = i.from_name;
  if (i.html !== undefined) input.html = i.html;
  if (i.customer) input.customer = i.customer;
  return input;
}

function compare(d: Decision, e: z.infer<typeof expectSchema>): string[] {
  const out: string[] = [];
  if (e.department && d.department !== e.department)
    out.push(`department: expected ${e.department}, got ${d.department}`);
  if (e.urgency && d.urgency !== e.urgency) out.push(`urgency: expected ${e.urgency}, got ${d.urgency}`);
  for (const t of e.tags ?? [])
    if (!d.tags.includes(t)) out.push(`tags: expected "${t}", got [${d.tags.join(', ')}]`);
  for (const t of e.not_tags ?? []) if (d.tags.includes(t)) out.push(`tags: did not expect "${t}"`);
  if (e.auto_reply !== undefined && (d.autoReply ?? null) !== e.auto_reply)
    out.push(`auto_reply: expected ${e.auto_reply ?? 'none'}, got ${d.autoReply ?? 'none'}`);
  if (e.copy_to && [...e.copy_to].sort().join() !== [...(d.copyTo ?? [])].sort().join())
    out.push(`copy_to: expected [${e.copy_to.join(', ')}], got [${(d.copyTo ?? []).join(', ')}]`);
  return out;
}

/** Runs every golden test file in dir against the rule set. A missing folder means no tests. */
export async function runGoldenTests(dir: string, rules: RuleSet): Promise<GoldenResult[]> {
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort();
  } catch {
    return [];
  }
  const results: GoldenResult[] = [];
  for (const f of files) {
    const file = path.join(dir, f);
    const label = path.join(path.basename(dir), f);
    const lc = new LineCounter();
    const doc = parseDocument(readFileSync(file, 'utf8'), { lineCounter: lc, prettyErrors: false });
    const lineOf = (i: number) => {
      const tests = doc.get('tests', true);
      const node = isSeq(tests) ? tests.items[i] : undefined;
      return node && (isMap(node) || isSeq(node)) && node.range ? lc.linePos(node.range[0]).line : 1;
    };
    if (doc.errors.length) {
      const e = doc.errors[0];
      const line = e ? lc.linePos(e.pos[0]).line : 1;
      results.push({
        file: label,
        line,
        name: '(file)',
        ok: false,
        failures: [e?.message.split('\n')[0] ?? 'bad YAML'],
      });
      continue;
    }
    const parsed = fileSchema.safeParse(doc.toJS());
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const i = typeof issue.path[1] === 'number' ? issue.path[1] : -1;
        results.push({
          file: label,
          line: i >= 0 ? lineOf(i) : 1,
          name: '(file)',
          ok: false,
          failures: [`${issue.path.join('.')}: ${issue.message}`],
        });
      }
      continue;
    }
    for (const [i, c] of parsed.data.tests.entries()) {
      const base = { file: label, line: lineOf(i), name: c.name };
      let input: RuleInput;
      try {
        if (c.eml !== undefined) {
          const raw = readFileSync(path.resolve(path.dirname(file), c.eml));
          input = fromParsedMail(await simpleParser(raw), undefined, { size: raw.length });
        } else input = inlineInput(c.input as z.infer<typeof inputSchema>);
      } catch (e) {
        results.push({ ...base, ok: false, failures: [`cannot read the message: ${(e as Error).message}`] });
        continue;
      }
      const decision = evaluate(rules, input);
      const failures = compare(decision, c.expect);
      results.push({ ...base, ok: failures.length === 0, failures, decision });
    }
  }
  return results;
}

/** One line per failed case: `file:line: name: what differed`. */
export function formatGoldenFailures(results: GoldenResult[]): string[] {
  return results
    .filter((r) => !r.ok)
    .flatMap((r) => r.failures.map((f) => `${r.file}:${r.line}: ${r.name}: ${f}`));
}
