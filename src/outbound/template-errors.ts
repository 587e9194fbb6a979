import Handlebars from 'handlebars';
import { ErrorCodes, MailroomError } from '../lib/index.ts';

/**
 * Handlebars' strict mode says `"name" not defined in [object Object] - 2:8`: only the last path
 * segment. We parse the template again and find the expression at that spot, so the error names
 * `customer.name` and the file and line a person can open.
 */

interface Loc {
  start: { line: number; column: number };
}

function findPathAt(node: unknown, line: number, column: number): string | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const n = node as { type?: string; loc?: Loc; original?: unknown };
  if (
    n.type === 'PathExpression' &&
    n.loc?.start.line === line &&
    n.loc.start.column === column &&
    typeof n.original === 'string'
  )
    return n.original;
  for (const value of Object.values(node)) {
    if (value && typeof value === 'object') {
      const found = Array.isArray(value)
        ? value.map((v) => findPathAt(v, line, column)).find((x) => x !== undefined)
        : findPathAt(value, line, column);
      if (found) return found;
    }
  }
  return undefined;
}

interface PathNode {
  original: string;
  parts: string[];
  line: number;
}

function allPaths(node: unknown, out: PathNode[]): PathNode[] {
  if (!node || typeof node !== 'object') return out;
  const n = node as { type?: string; loc?: Loc; original?: unknown; parts?: unknown };
  if (n.type === 'PathExpression' && typeof n.original === 'string' && Array.isArray(n.parts) && n.loc)
    out.push({ original: n.original, parts: n.parts as string[], line: n.loc.start.line });
  for (const value of Object.values(node)) {
    if (Array.isArray(value)) for (const v of value) allPaths(v, out);
    else if (value && typeof value === 'object') allPaths(value, out);
  }
  return out;
}

function resolves(data: unknown, parts: string[]): boolean {
  let cur = data;
  for (const p of parts) {
    if (cur === null || cur === undefined || typeof cur !== 'object') return false;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur !== undefined && cur !== null;
}

/**
 * `{{#if customer.name}}` with no `customer` at all fails inside Handlebars as a TypeError with no
 * position. Find the path whose parent is missing from the data so the error can name it.
 */
function missingParent(source: string, prop: string, data: unknown): PathNode | undefined {
  let paths: PathNode[];
  try {
    paths = allPaths(Handlebars.parse(source), []);
  } catch {
    return undefined;
  }
  const candidates = paths.filter((p) => p.parts.indexOf(prop) > 0);
  return candidates.find((p) => !resolves(data, p.parts.slice(0, p.parts.indexOf(prop)))) ?? candidates[0];
}

export function wrapRenderError(err: unknown, file: string, source: string, data?: unknown): Error {
  if (err instanceof MailroomError) return err;
  const te = /^Cannot read properties of (?:undefined|null) \(reading '([^']+)'\)/.exec(
    (err as Error)?.message ?? '',
  );
  if (te && data !== undefined) {
    const p = missingParent(source, te[1] as string, data);
    if (p) {
      const parent = p.parts.slice(0, p.parts.indexOf(te[1] as string)).join('.');
      return new MailroomError(
        ErrorCodes.TEMPLATE_MISSING_VARIABLE,
        `${file}:${p.line}: the data has no value for "${parent}" (needed for "${p.original}"); pass it`,
        { file, line: p.line, variable: parent },
        { cause: err },
      );
    }
  }
  const e = err as { message?: string; lineNumber?: number; column?: number };
  const m = /^"([^"]+)" not defined in/.exec(e.message ?? '');
  if (m && typeof e.lineNumber === 'number') {
    let variable = m[1] as string;
    try {
      variable = findPathAt(Handlebars.parse(source), e.lineNumber, e.column ?? -1) ?? variable;
    } catch {
      // The template compiled, so it parses; keep the short name if it somehow does not.
    }
    return new MailroomError(
      ErrorCodes.TEMPLATE_MISSING_VARIABLE,
      `${file}:${e.lineNumber}: the data has no value for "${variable}"; pass it, or guard the line with {{#if ${variable}}}`,
      { file, line: e.lineNumber, variable },
      { cause: err },
    );
  }
  return new MailroomError(
    ErrorCodes.TEMPLATE_INVALID,
    `${file}${typeof e.lineNumber === 'number' ? `:${e.lineNumber}` : ''}: ${e.message ?? String(err)}`,
    { file },
    { cause: err },
  );
}
