import type { KeywordAutomaton } from './aho-corasick.ts';
import type { Normaliser } from './normalise.ts';
import type { Condition, MatchContext } from './types.ts';

/**
 * Compiles the `when` part of a rule into Condition objects. Problems are collected with the path
 * of the offending YAML node, so the loader can print file:line:column.
 */

export type YamlPath = Array<string | number>;
export interface CompileIssue {
  path: YamlPath;
  message: string;
}

const TEXT_FIELDS = ['from', 'from_domain', 'to', 'cc', 'subject', 'body', 'any_text', 'attachment'];
const OPERATORS = ['contains', 'contains_any', 'contains_all', 'equals', 'matches', 'exists'];
const SIZE_OPS = ['gt', 'gte', 'lt', 'lte'] as const;
const SIZE_SYMBOL = { gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

export interface CompileEnv {
  automaton: KeywordAutomaton;
  normalise: Normaliser;
  issues: CompileIssue[];
  /** Fields some keyword condition searches; the engine scans exactly these. */
  keywordFields: Set<string>;
}

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function quote(s: string): string {
  return JSON.stringify(s);
}

const never: Condition = { test: () => false, explain: () => '', describe: () => '(invalid)' };

function all(parts: Condition[]): Condition {
  if (parts.length === 1) return parts[0] as Condition;
  // Any one part's necessary keywords are necessary for the whole: pick the smallest list.
  const triggers = parts.map((p) => p.trigger).filter((t): t is number[] => Array.isArray(t));
  const trigger = triggers.sort((a, b) => a.length - b.length)[0] ?? null;
  return {
    trigger,
    test: (ctx) => parts.every((p) => p.test(ctx)),
    explain: (ctx) => parts.map((p) => p.explain(ctx)).join(' and '),
    describe: () => parts.map((p) => p.describe()).join(' and '),
  };
}

function any(parts: Condition[]): Condition {
  const trigger = parts.every((p) => Array.isArray(p.trigger))
    ? [...new Set(parts.flatMap((p) => p.trigger as number[]))]
    : null;
  return {
    trigger,
    test: (ctx) => parts.some((p) => p.test(ctx)),
    explain: (ctx) => parts.find((p) => p.test(ctx))?.explain(ctx) ?? '',
    describe: () => `(${parts.map((p) => p.describe()).join(' or ')})`,
  };
}

function not(inner: Condition): Condition {
  return {
    test: (ctx) => !inner.test(ctx),
    explain: () => `not (${inner.describe()})`,
    describe: () => `not (${inner.describe()})`,
  };
}

function stringList(v: unknown, at: YamlPath, env: CompileEnv, what: string): string[] | null {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string' && x.trim())) {
    env.issues.push({ path: at, message: `expected ${what} (a string or a non-empty list of strings)` });
    return null;
  }
  return list as string[];
}

interface Keyword {
  text: string;
  id: number;
}

function keywords(v: unknown, at: YamlPath, env: CompileEnv): Keyword[] | null {
  const list = stringList(v, at, env, 'keywords');
  if (!list) return null;
  const out: Keyword[] = [];
  list.forEach((text, i) => {
    const n = env.normalise(text).trim();
    if (!n) env.issues.push({ path: Array.isArray(v) ? [...at, i] : at, message: 'empty keyword' });
    else out.push({ text, id: env.automaton.add(n) });
  });
  return out;
}

/** Where a keyword was found: any_text reports the actual field (subject or body). */
function foundIn(ctx: MatchContext, field: string, id: number): string | null {
  if (field !== 'any_text') return ctx.hits(field).has(id) ? field : null;
  if (ctx.hits('subject').has(id)) return 'subject';
  return ctx.hits('body').has(id) ? 'body' : null;
}

function fieldCondition(field: string, spec: unknown, at: YamlPath, env: CompileEnv): Condition {
  if (!isMapping(spec)) {
    env.issues.push({
      path: at,
      message: `expected an operator mapping such as { contains_any: [...] }; operators: ${OPERATORS.join(', ')}`,
    });
    return never;
  }
  const parts: Condition[] = [];
  for (const [op, arg] of Object.entries(spec)) {
    const here = [...at, op];
    switch (op) {
      case 'contains':
      case 'contains_any': {
        const kws = keywords(arg, here, env);
        if (!kws) break;
        env.keywordFields.add(field);
        parts.push({
          trigger: kws.map((k) => k.id),
          test: (ctx) => kws.some((k) => foundIn(ctx, field, k.id) !== null),
          explain: (ctx) => {
            for (const k of kws) {
              const f = foundIn(ctx, field, k.id);
              if (f) return `${f} contains ${quote(k.text)}`;
            }
            return '';
          },
          describe: () => `${field} contains ${kws.map((k) => quote(k.text)).join(' or ')}`,
        });
        break;
      }
      case 'contains_all': {
        const kws = keywords(arg, here, env);
        if (!kws) break;
        env.keywordFields.add(field);
        parts.push({
          trigger: kws.map((k) => k.id),
          test: (ctx) => kws.every((k) => foundIn(ctx, field, k.id) !== null),
          explain: () => `${field} contains ${kws.map((k) => quote(k.text)).join(' and ')}`,
          describe: () => `${field} contains ${kws.map((k) => quote(k.text)).join(' and ')}`,
        });
        break;
      }
      case 'equals': {
        const list = stringList(arg, here, env, 'a value');
        if (!list) break;
        const wanted = list.map((w) => ({ text: w, n: env.normalise(w).trim() }));
        const source = field === 'any_text' ? ['subject', 'body'] : [field];
        const hit = (ctx: MatchContext) =>
          wanted.find((w) => source.some((f) => ctx.values(f).includes(w.n)));
        parts.push({
          test: (ctx) => hit(ctx) !== undefined,
          explain: (ctx) => `${field} is ${quote(hit(ctx)?.text ?? '')}`,
          describe: () => `${field} is ${wanted.map((w) => quote(w.text)).join(' or ')}`,
        });
        break;
      }
      case 'matches': {
        if (typeof arg !== 'string' || !arg) {
          env.issues.push({ path: here, message: 'expected a regular expression as a string' });
          break;
        }
        let re: RegExp;
        try {
          re = new RegExp(arg, 'imu');
        } catch (e) {
          env.issues.push({ path: here, message: `bad regular expression: ${(e as Error).message}` });
          break;
        }
        const texts = (ctx: MatchContext) =>
          field === 'any_text' ? [ctx.text('subject'), ctx.text('body')] : [ctx.text(field)];
        parts.push({
          test: (ctx) => texts(ctx).some((t) => re.test(t)),
          explain: (ctx) => {
            const m = texts(ctx)
              .map((t) => re.exec(t))
              .find((x) => x);
            const seen = m ? m[0].slice(0, 60) : '';
            return `${field} matches /${arg}/ (${quote(seen)})`;
          },
          describe: () => `${field} matches /${arg}/`,
        });
        break;
      }
      case 'exists': {
        if (typeof arg !== 'boolean') {
          env.issues.push({ path: here, message: 'expected true or false' });
          break;
        }
        const present = (ctx: MatchContext) => ctx.values(field).some((v) => v.length > 0);
        parts.push({
          test: (ctx) => present(ctx) === arg,
          explain: () => `${field} ${arg ? 'exists' : 'is absent'}`,
          describe: () => `${field} ${arg ? 'exists' : 'is absent'}`,
        });
        break;
      }
      default:
        env.issues.push({
          path: here,
          message: `unknown operator "${op}"; expected one of ${OPERATORS.join(', ')}`,
        });
    }
  }
  if (parts.length === 0) {
    if (Object.keys(spec).length === 0)
      env.issues.push({ path: at, message: 'expected at least one operator' });
    return never;
  }
  return all(parts);
}

function sizeCondition(spec: unknown, at: YamlPath, env: CompileEnv): Condition {
  if (!isMapping(spec) || Object.keys(spec).length === 0) {
    env.issues.push({ path: at, message: 'expected { gt | gte | lt | lte: bytes }' });
    return never;
  }
  const parts: Condition[] = [];
  for (const [op, arg] of Object.entries(spec)) {
    if (!(SIZE_OPS as readonly string[]).includes(op)) {
      env.issues.push({
        path: [...at, op],
        message: `unknown size operator "${op}"; expected gt, gte, lt or lte`,
      });
      continue;
    }
    if (typeof arg !== 'number' || !Number.isFinite(arg) || arg < 0) {
      env.issues.push({ path: [...at, op], message: 'expected a number of bytes' });
      continue;
    }
    const o = op as (typeof SIZE_OPS)[number];
    const cmp = (n: number) =>
      o === 'gt' ? n > arg : o === 'gte' ? n >= arg : o === 'lt' ? n < arg : n <= arg;
    parts.push({
      test: (ctx) => cmp(ctx.input.size),
      explain: (ctx) => `size ${ctx.input.size} ${SIZE_SYMBOL[o]} ${arg}`,
      describe: () => `size ${SIZE_SYMBOL[o]} ${arg}`,
    });
  }
  return parts.length ? all(parts) : never;
}

function listOf(spec: unknown, at: YamlPath, env: CompileEnv, key: string): Condition[] {
  if (!Array.isArray(spec) || spec.length === 0) {
    env.issues.push({ path: at, message: `expected a non-empty list of conditions under "${key}"` });
    return [];
  }
  return spec.map((c, i) => compileCondition(c, [...at, i], env));
}

/** Compiles one condition mapping; several keys in one mapping must all hold. */
export function compileCondition(spec: unknown, at: YamlPath, env: CompileEnv): Condition {
  if (!isMapping(spec) || Object.keys(spec).length === 0) {
    env.issues.push({
      path: at,
      message: 'expected a mapping of conditions (e.g. subject: { contains_any: [...] })',
    });
    return never;
  }
  const parts: Condition[] = [];
  for (const [key, value] of Object.entries(spec)) {
    const here = [...at, key];
    if (key === 'all') parts.push(all(listOf(value, here, env, key)));
    else if (key === 'any') parts.push(any(listOf(value, here, env, key)));
    else if (key === 'not') parts.push(not(compileCondition(value, here, env)));
    else if (TEXT_FIELDS.includes(key)) parts.push(fieldCondition(key, value, here, env));
    else if (/^header\.[A-Za-z0-9-]+$/.test(key))
      parts.push(fieldCondition(`header.${key.slice(7).toLowerCase()}`, value, here, env));
    else if (key === 'size') parts.push(sizeCondition(value, here, env));
    else if (key === 'flag') {
      const flags = stringList(value, here, env, 'flag names (auto_reply, bulk, bounce, loop, ...)');
      if (flags)
        parts.push({
          test: (ctx) => flags.some((f) => ctx.input.flags.includes(f)),
          explain: (ctx) => `flag ${flags.find((f) => ctx.input.flags.includes(f)) ?? ''}`,
          describe: () => `flag ${flags.join(' or ')}`,
        });
    } else if (key === 'customer.segment') {
      const segs = stringList(value, here, env, 'segment names');
      if (segs)
        parts.push({
          test: (ctx) => segs.some((s) => ctx.input.customer?.segments.includes(s) ?? false),
          explain: (ctx) =>
            `customer segment ${quote(segs.find((s) => ctx.input.customer?.segments.includes(s)) ?? '')}`,
          describe: () => `customer segment ${segs.map(quote).join(' or ')}`,
        });
    } else if (key === 'customer.vip') {
      if (typeof value !== 'boolean') env.issues.push({ path: here, message: 'expected true or false' });
      else
        parts.push({
          test: (ctx) => (ctx.input.customer?.vip ?? false) === value,
          explain: () => (value ? 'customer is VIP' : 'customer is not VIP'),
          describe: () => (value ? 'customer is VIP' : 'customer is not VIP'),
        });
    } else {
      env.issues.push({
        path: here,
        message: `unknown condition "${key}"; expected all, any, not, ${TEXT_FIELDS.join(', ')}, header.<Name>, size, flag, customer.segment or customer.vip`,
      });
    }
  }
  return parts.length ? all(parts) : never;
}
