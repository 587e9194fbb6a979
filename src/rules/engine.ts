import type { Department, Urgency } from '../config/index.ts';
import type { CompiledRule, Decision, MatchContext, RuleInput, RuleSet } from './types.ts';

/**
 * The pure core: a message and a rule set in, a decision out. No I/O, no clock, no logging, so the
 * same function serves ingest, `rules test`, `rules replay` and the golden tests.
 */

/** Bodies beyond this are not searched: keywords that matter sit near the top of a message. */
export const MAX_BODY_CHARS = 100_000;

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at >= 0 ? address.slice(at + 1) : '';
}

function rawValues(input: RuleInput, field: string): string[] {
  switch (field) {
    case 'from':
      return [input.from];
    case 'from_domain':
      return [domainOf(input.from)];
    case 'to':
      return input.to;
    case 'cc':
      return input.cc;
    case 'subject':
      return [input.subject];
    case 'body':
      return [input.text.length > MAX_BODY_CHARS ? input.text.slice(0, MAX_BODY_CHARS) : input.text];
    case 'attachment':
      return input.attachments.flatMap((a) => (a.filename ? [a.filename, a.contentType] : [a.contentType]));
    default:
      if (field.startsWith('header.')) return input.headers[field.slice(7)] ?? [];
      return [];
  }
}

class Context implements MatchContext {
  private readonly texts = new Map<string, string>();
  private readonly hitSets = new Map<string, Set<number>>();
  private readonly valueLists = new Map<string, string[]>();
  constructor(
    readonly input: RuleInput,
    private readonly set: RuleSet,
  ) {}

  text(field: string): string {
    let t = this.texts.get(field);
    if (t === undefined) {
      const raw = rawValues(this.input, field);
      const joined =
        field === 'from' && this.input.fromName ? `${raw[0]}\n${this.input.fromName}` : raw.join('\n');
      t = this.set.normalise(joined);
      this.texts.set(field, t);
    }
    return t;
  }

  hits(field: string): ReadonlySet<number> {
    let h = this.hitSets.get(field);
    if (h === undefined) {
      h = this.set.scan(this.text(field));
      this.hitSets.set(field, h);
    }
    return h;
  }

  values(field: string): string[] {
    let v = this.valueLists.get(field);
    if (v === undefined) {
      v = rawValues(this.input, field).map((x) => this.set.normalise(x).trim());
      this.valueLists.set(field, v);
    }
    return v;
  }
}

function actionSummary(rule: CompiledRule): string {
  const t = rule.actions;
  const parts: string[] = [];
  if (t.department) parts.push(t.department);
  if (t.urgency) parts.push(t.urgency);
  for (const tag of t.tags) parts.push(`+${tag}`);
  if (t.assign) parts.push(`assign ${t.assign}`);
  if (t.autoReply) parts.push(`auto-reply ${t.autoReply}`);
  for (const d of t.copyTo) parts.push(`copy to ${d}`);
  if (t.stop) parts.push('stop');
  return parts.join(', ') || 'no action';
}

interface Pick<T> {
  value: T;
  rule: CompiledRule;
}

/** First rule that sets a value wins, unless a later one has a strictly higher priority. */
function consider<T>(
  cur: Pick<T> | undefined,
  value: T | undefined,
  rule: CompiledRule,
): Pick<T> | undefined {
  if (value === undefined) return cur;
  if (cur === undefined || rule.priority > cur.rule.priority) return { value, rule };
  return cur;
}

export function evaluate(set: RuleSet, input: RuleInput): Decision {
  const ctx = new Context(input, set);
  const matched: CompiledRule[] = [];
  // Only rules that can match are tested: those whose keywords were found, and keyword-free ones.
  const candidate = new Uint8Array(set.rules.length);
  for (const i of set.index.always) candidate[i] = 1;
  for (const field of set.index.keywordFields) {
    for (const id of ctx.hits(field)) {
      const rules = set.index.byPattern.get(id);
      if (rules) for (const i of rules) candidate[i] = 1;
    }
  }
  for (let i = 0; i < set.rules.length; i++) {
    if (candidate[i] === 0) continue;
    const rule = set.rules[i] as CompiledRule;
    if (!rule.when.test(ctx)) continue;
    matched.push(rule);
    if (rule.actions.stop) break;
  }

  let department: Pick<Department> | undefined;
  let urgency: Pick<Urgency> | undefined;
  let assign: Pick<string> | undefined;
  let autoReply: Pick<string> | undefined;
  const tags = new Set<string>();
  const copyTo = new Set<Department>();
  for (const rule of matched) {
    department = consider(department, rule.actions.department, rule);
    urgency = consider(urgency, rule.actions.urgency, rule);
    assign = consider(assign, rule.actions.assign, rule);
    autoReply = consider(autoReply, rule.actions.autoReply, rule);
    for (const t of rule.actions.tags) tags.add(t);
    for (const d of rule.actions.copyTo) copyTo.add(d);
  }

  const finalDepartment = department?.value ?? set.defaultDepartment;
  copyTo.delete(finalDepartment);
  const matchedOut = matched.map((rule) => ({
    rule: rule.name,
    explanation: `${rule.when.explain(ctx)} → ${actionSummary(rule)}`,
  }));
  const explanation = matchedOut.map((m) => `${m.rule}: ${m.explanation}`);
  explanation.push(
    department
      ? `department ${department.value} from rule ${department.rule.name}`
      : `department ${finalDepartment}: no rule set a department, the configured default`,
    urgency
      ? `urgency ${urgency.value} from rule ${urgency.rule.name}`
      : 'urgency normal: no rule set urgency',
  );

  const decision: Decision = {
    department: finalDepartment,
    urgency: urgency?.value ?? 'normal',
    tags: [...tags],
    matched: matchedOut,
    explanation,
    decidedBy: { department: department?.rule.name ?? null, urgency: urgency?.rule.name ?? null },
  };
  if (assign) decision.assign = assign.value;
  if (autoReply) decision.autoReply = autoReply.value;
  if (copyTo.size) decision.copyTo = [...copyTo];
  return decision;
}
