import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Document, isMap, isNode, isPair, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import type { Department } from '../config/index.ts';
import { ErrorCodes, MailroomError } from '../lib/index.ts';
import { KeywordAutomaton } from './aho-corasick.ts';
import { type CompileIssue, compileCondition, type YamlPath } from './compile.ts';
import { createNormaliser } from './normalise.ts';
import { rulesFileSchema } from './schema.ts';
import type { CompiledRule, RuleSet } from './types.ts';

export interface RuleProblem {
  file: string;
  line: number;
  column: number;
  reason: string;
}

export interface LoadRulesOptions {
  /** Template names auto_reply may use; when given, any other name is refused. */
  knownTemplates?: string[];
  /** Where mail goes when no rule sets a department (config mail.default_department). */
  defaultDepartment?: Department;
  /** Shown in messages instead of absolute paths; defaults to the file's base name. */
  label?: (file: string) => string;
  loadedAt?: number;
}

export interface RulesFileText {
  file: string;
  text: string;
}

function issueReason(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify((issue as { input?: unknown }).input)}`;
    case 'invalid_type':
      return (issue as { input?: unknown }).input === undefined
        ? `is required (${issue.expected})`
        : `expected ${issue.expected}`;
    default:
      return issue.message;
  }
}

/** Line and column of the YAML node at path, or of the nearest enclosing node that exists. */
function locate(
  doc: Document,
  lc: LineCounter,
  at: YamlPath,
  key?: string,
): { line: number; column: number } {
  const full = key === undefined ? at : [...at, key];
  for (let n = full.length; n >= 0; n--) {
    const parentPath = full.slice(0, Math.max(0, n - 1));
    const last = full[n - 1];
    const parent = n === 0 ? doc.contents : doc.getIn(parentPath, true);
    let node: unknown = parent;
    if (n > 0 && isMap(parent)) {
      const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === last);
      node = pair?.key;
    } else if (n > 0 && isSeq(parent) && typeof last === 'number') {
      node = parent.items[last];
    } else if (n > 0) node = undefined;
    if (isNode(node) && node.range) {
      const pos = lc.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return { line: 1, column: 1 };
}

/**
 * Validates and compiles rules files (already read) into one RuleSet. Throws RULES_INVALID listing
 * every problem as `file:line:column: reason`; never returns a partial rule set.
 */
export function compileRules(files: RulesFileText[], opts: LoadRulesOptions = {}): RuleSet {
  const label = opts.label ?? ((f: string) => path.basename(f));
  const normalise = createNormaliser();
  const automaton = new KeywordAutomaton();
  const problems: RuleProblem[] = [];
  const rules: CompiledRule[] = [];
  const names = new Map<string, string>();
  const keywordFields = new Set<string>();

  for (const { file, text } of files) {
    const name = label(file);
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = lc.linePos(e.pos[0]);
        problems.push({
          file: name,
          line: pos.line,
          column: pos.col,
          reason: e.message.split('\n')[0] ?? '',
        });
      }
      continue;
    }
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    const add = (at: YamlPath, reason: string, key?: string) =>
      problems.push({
        file: name,
        ...locate(doc, lc, at, key),
        reason: `${formatPath(key ? [...at, key] : at)}: ${reason}`,
      });
    const parsed = rulesFileSchema.safeParse(value, { reportInput: true });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const p = issue.path as YamlPath;
        if (issue.code === 'unrecognized_keys') for (const k of issue.keys) add(p, issueReason(issue), k);
        else add(p, issueReason(issue));
      }
      // Still check the conditions, so one run reports every problem in the file.
      const list = (value as { rules?: unknown }).rules;
      if (Array.isArray(list)) {
        list.forEach((r, i) => {
          const when = (r as { when?: unknown } | null)?.when;
          if (when === undefined || when === null) return;
          const issues: CompileIssue[] = [];
          compileCondition(when, ['rules', i, 'when'], { automaton, normalise, issues, keywordFields });
          for (const issue of issues) add(issue.path, issue.message);
        });
      }
      continue;
    }
    parsed.data.rules.forEach((raw, i) => {
      const at: YamlPath = ['rules', i];
      const seen = names.get(raw.name);
      if (seen)
        add([...at, 'name'], `rule name "${raw.name}" is already used in ${seen}; names must be unique`);
      names.set(raw.name, name);
      if (raw.then.auto_reply && opts.knownTemplates && !opts.knownTemplates.includes(raw.then.auto_reply)) {
        add(
          [...at, 'then', 'auto_reply'],
          `unknown template "${raw.then.auto_reply}"; known: ${opts.knownTemplates.join(', ') || '(none)'}`,
        );
      }
      const issues: CompileIssue[] = [];
      const when = compileCondition(raw.when, [...at, 'when'], {
        automaton,
        normalise,
        issues,
        keywordFields,
      });
      for (const issue of issues) add(issue.path, issue.message);
      const copy = raw.then.copy_to;
      rules.push({
        name: raw.name,
        priority: raw.priority,
        when,
        actions: {
          ...(raw.then.department ? { department: raw.then.department } : {}),
          ...(raw.then.urgency ? { urgency: raw.then.urgency } : {}),
          ...(raw.then.assign ? { assign: raw.then.assign } : {}),
          ...(raw.then.auto_reply ? { autoReply: raw.then.auto_reply } : {}),
          tags: raw.then.tags,
          copyTo: copy === undefined ? [] : Array.isArray(copy) ? copy : [copy],
          stop: raw.then.stop,
        },
        source: { file: name, line: locate(doc, lc, at).line },
      });
    });
  }

  if (problems.length > 0) {
    const lines = problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.reason}`);
    throw new MailroomError(
      ErrorCodes.RULES_INVALID,
      lines.length === 1 ? `invalid rules: ${lines[0]}` : `invalid rules:\n  ${lines.join('\n  ')}`,
      { problems },
    );
  }
  automaton.build();
  const byPattern = new Map<number, number[]>();
  const always: number[] = [];
  rules.forEach((rule, i) => {
    const t = rule.when.trigger;
    if (!t) always.push(i);
    else for (const id of t) byPattern.set(id, [...(byPattern.get(id) ?? []), i]);
  });
  const fields = new Set<string>();
  for (const f of keywordFields) for (const x of f === 'any_text' ? ['subject', 'body'] : [f]) fields.add(x);
  return {
    index: { byPattern, always, keywordFields: [...fields] },
    rules,
    defaultDepartment: opts.defaultDepartment ?? 'customer_service',
    normalise,
    scan: (text) => automaton.scan(text),
    files: files.map((f) => label(f.file)),
    loadedAt: opts.loadedAt ?? null,
  };
}

export function formatPath(p: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of p) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(top level)';
}

/** The rules files of a folder, in file-name order (rules/tests/ holds golden tests, not rules). */
export function listRuleFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    throw new MailroomError(
      ErrorCodes.RULES_INVALID,
      `cannot read the rules folder ${dir}: ${(e as Error).message}; set rules_dir in mailroom.yaml`,
    );
  }
  return entries
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Reads rules/*.yaml in file-name order and compiles them (see compileRules). */
export function loadRules(dir: string, opts: LoadRulesOptions = {}): RuleSet {
  const files = listRuleFiles(dir).map((file) => ({ file, text: readFileSync(file, 'utf8') }));
  return compileRules(files, opts);
}
