import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** A parsed form body: urlencoded (@fastify/formbody) or multipart (below); repeated names give arrays. */
export type FormBody = Record<string, unknown>;

function bodyOf(body: unknown): FormBody {
  return body && typeof body === 'object' ? (body as FormBody) : {};
}

/** The first string value of a field ('' when absent). */
export function field(body: unknown, name: string): string {
  const v = bodyOf(body)[name];
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return '';
}

/** Every string value of a field (a multi-select sends the name once per chosen option). */
export function fields(body: unknown, name: string): string[] {
  const v = bodyOf(body)[name];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

/**
 * multipart/form-data for the CSV upload, parsed with the platform's own FormData parser (fetch's
 * Response). Files become their text, so the staff guard reads `_csrf` from the same object.
 */
export function addMultipartParser(app: FastifyInstance, bodyLimit: number): void {
  if (app.hasContentTypeParser('multipart/form-data')) return;
  app.addContentTypeParser(
    'multipart/form-data',
    { parseAs: 'buffer', bodyLimit },
    async (req: FastifyRequest, body: Buffer | string) => {
      let form: FormData;
      try {
        form = await new Response(body, {
          headers: { 'content-type': String(req.headers['content-type'] ?? '') },
        }).formData();
      } catch {
        throw Object.assign(new Error('malformed multipart form'), { statusCode: 400 });
      }
      const out: Record<string, string | string[]> = {};
      for (const [name, value] of form.entries()) {
        const text = typeof value === 'string' ? value : await value.text();
        const prev = out[name];
        out[name] = prev === undefined ? text : Array.isArray(prev) ? [...prev, text] : [prev, text];
      }
      return out;
    },
  );
}

const LAYOUT_LINE = /^\s*\{\{!<\s*newsletter\s*\}\}/;

/**
 * Campaign templates: the templates (any locale) whose html.hbs starts with `{{!< newsletter}}`,
 * i.e. the ones with the newsletter layout and its unsubscribe footer.
 */
export function newsletterTemplates(dir: string): string[] {
  const names = new Set<string>();
  if (!existsSync(dir)) return [];
  for (const locale of readdirSync(dir, { withFileTypes: true })) {
    if (!locale.isDirectory()) continue;
    const localeDir = path.join(dir, locale.name);
    for (const t of readdirSync(localeDir, { withFileTypes: true })) {
      if (!t.isDirectory() || t.name.startsWith('_')) continue;
      const html = path.join(localeDir, t.name, 'html.hbs');
      if (existsSync(html) && LAYOUT_LINE.test(readFileSync(html, 'utf8').slice(0, 200))) names.add(t.name);
    }
  }
  return [...names].sort();
}

/** A `datetime-local` value read as UTC (the form says so), or null. */
export function parseUtcLocal(s: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(s)) return null;
  const t = Date.parse(`${s}Z`);
  return Number.isFinite(t) ? t : null;
}

/** A percentage field as a rate (5 -> 0.05); null unless 0 < value <= 100. */
export function percentField(s: string): number | null {
  const n = Number(s.trim().replace(',', '.'));
  if (!s.trim() || !Number.isFinite(n) || n <= 0 || n > 100) return null;
  return n / 100;
}

/** A rate for a percentage input (0.001 -> "0.1"), without float noise. */
export function asPercent(rate: number): string {
  return String(Number((rate * 100).toPrecision(6)));
}
