import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { compile as compileHtmlToText } from 'html-to-text';
import { ErrorCodes, MailroomError } from '../lib/index.ts';
import { stripHeaderControls } from './header-safety.ts';
import { localeChain, TEMPLATE_LOCALES } from './locales.ts';
import { wrapRenderError } from './template-errors.ts';
import { date, makeLink, money } from './template-helpers.ts';

/**
 * Mail templates on disk:
 *   templates/<locale>/<name>/subject.hbs, html.hbs, [text.hbs], sample.json
 *   templates/<locale>/_layouts/<layout>.hbs   (html.hbs picks one with `{{!< layout}}` on line 1;
 *                                                `default` otherwise, `{{!< none}}` for none)
 *   templates/<locale>/_partials/<partial>.hbs (en's partials are the fallback for every locale)
 * Compiled with `strict: true`: a variable missing from the data throws instead of rendering
 * "Dear ," to a customer.
 */

export interface RenderedTemplate {
  subject: string;
  html: string;
  text: string;
  /** The locale whose files were used (after fallback). */
  locale: string;
  template: string;
}

export interface TemplateRendererOptions {
  dir: string;
  /** config.web.public_url, for {{link}}. */
  publicUrl?: string | undefined;
  /** Zone for {{date}} when the data names none (data.time_zone or data.customer.time_zone). */
  defaultTimeZone?: string;
  /** Values every template sees unless the data overrides them, e.g. `{ shop: { name } }`. */
  globals?: Record<string, unknown>;
}

export interface TemplateCheckResult {
  template: string;
  locale: string;
  ok: boolean;
  error?: string;
}

export interface TemplateRenderer {
  renderTemplate(
    name: string,
    locale: string | null | undefined,
    data: Record<string, unknown>,
  ): RenderedTemplate;
  /** Every (template, locale) pair on disk. */
  list(): Array<{ template: string; locale: string }>;
  /** Renders every template of every locale with its sample.json. */
  check(): TemplateCheckResult[];
  sample(name: string, locale: string): Record<string, unknown>;
}

type Compiled = { fn: Handlebars.TemplateDelegate; file: string; source: string };

/**
 * The text part generated from HTML. Compiled once: html-to-text's convert() compiles its selector
 * options on every call, which cost more than the rest of rendering together.
 */
const htmlToText = compileHtmlToText({
  wordwrap: 78,
  selectors: [
    { selector: 'img', format: 'skip' },
    { selector: 'table.items', format: 'dataTable', options: { uppercaseHeaderCells: false } },
    { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
  ],
});

const NAME = /^[a-z0-9][a-z0-9_-]*$/;
const LAYOUT_DIRECTIVE = /^\s*\{\{!<\s*([a-z0-9_-]+)\s*\}\}\s*\n?/;

export function normaliseTemplateName(name: string): string {
  if (!NAME.test(name))
    throw new MailroomError(
      ErrorCodes.TEMPLATE_NOT_FOUND,
      `"${name}" is not a template name (use a-z, 0-9, -)`,
    );
  return name.replace(/_/g, '-');
}

export function createTemplateRenderer(opts: TemplateRendererOptions): TemplateRenderer {
  const cache = new Map<string, Compiled>();
  const envs = new Map<string, typeof Handlebars>();
  const rel = (file: string) => path.relative(path.dirname(opts.dir), file) || file;

  function env(locale: string): typeof Handlebars {
    let hb = envs.get(locale);
    if (hb) return hb;
    hb = Handlebars.create();
    hb.registerHelper('money', money);
    hb.registerHelper('date', date);
    hb.registerHelper('link', makeLink({ publicUrl: opts.publicUrl }));
    for (const l of [...localeChain(locale)].reverse()) {
      const dir = path.join(opts.dir, l, '_partials');
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.hbs')))
        hb.registerPartial(f.slice(0, -4), readFileSync(path.join(dir, f), 'utf8'));
    }
    envs.set(locale, hb);
    return hb;
  }

  function compile(file: string, locale: string, escapeHtml: boolean): Compiled {
    const key = `${locale}\0${escapeHtml}\0${file}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const source = readFileSync(file, 'utf8');
    const body = source.replace(LAYOUT_DIRECTIVE, (m) => '\n'.repeat((m.match(/\n/g) ?? []).length));
    let fn: Handlebars.TemplateDelegate;
    try {
      fn = env(locale).compile(body, { strict: true, noEscape: !escapeHtml });
    } catch (e) {
      throw wrapRenderError(e, rel(file), body);
    }
    const c = { fn, file, source: body };
    cache.set(key, c);
    return c;
  }

  function run(c: Compiled, data: Record<string, unknown>): string {
    try {
      return c.fn(data);
    } catch (e) {
      throw wrapRenderError(e, rel(c.file), c.source, data);
    }
  }

  function findDir(name: string, locale: string | null | undefined): { dir: string; locale: string } {
    for (const l of localeChain(locale)) {
      const dir = path.join(opts.dir, l, name);
      if (existsSync(path.join(dir, 'html.hbs'))) return { dir, locale: l };
    }
    throw new MailroomError(
      ErrorCodes.TEMPLATE_NOT_FOUND,
      `no template "${name}" for locale ${locale ?? 'en'} (looked in ${localeChain(locale)
        .map((l) => rel(path.join(opts.dir, l, name)))
        .join(', ')})`,
      { template: name, locale },
    );
  }

  function findLayout(layout: string, locale: string): string | undefined {
    for (const l of localeChain(locale)) {
      const f = path.join(opts.dir, l, '_layouts', `${layout}.hbs`);
      if (existsSync(f)) return f;
    }
    return undefined;
  }

  /**
   * Where a template's files are, looked up once per name and locale (like the compiled templates:
   * changed template files are read at the next start; `mailroom templates check` reads afresh).
   */
  const resolved = new Map<
    string,
    {
      found: { dir: string; locale: string };
      htmlFile: string;
      layoutFile: string | undefined;
      textFile: string | undefined;
    }
  >();
  function resolve(name: string, locale: string | null | undefined) {
    const key = `${locale ?? ''}\0${name}`;
    const hit = resolved.get(key);
    if (hit) return hit;
    const found = findDir(name, locale);
    const htmlFile = path.join(found.dir, 'html.hbs');
    const directive = LAYOUT_DIRECTIVE.exec(readFileSync(htmlFile, 'utf8'))?.[1] ?? 'default';
    const layoutFile = directive === 'none' ? undefined : findLayout(directive, found.locale);
    if (directive !== 'none' && directive !== 'default' && !layoutFile)
      throw new MailroomError(
        ErrorCodes.TEMPLATE_INVALID,
        `${rel(htmlFile)}: layout "${directive}" not found in _layouts/`,
      );
    const text = path.join(found.dir, 'text.hbs');
    const r = { found, htmlFile, layoutFile, textFile: existsSync(text) ? text : undefined };
    resolved.set(key, r);
    return r;
  }

  function renderTemplate(
    rawName: string,
    locale: string | null | undefined,
    data: Record<string, unknown>,
  ): RenderedTemplate {
    const name = normaliseTemplateName(rawName);
    const { found, htmlFile, layoutFile, textFile } = resolve(name, locale);
    const customer = data.customer as { time_zone?: unknown } | undefined;
    const zone =
      (typeof data.time_zone === 'string' && data.time_zone) ||
      (typeof customer?.time_zone === 'string' && customer.time_zone) ||
      opts.defaultTimeZone ||
      'UTC';
    const root = { ...(opts.globals ?? {}), ...data, _locale: found.locale, _timeZone: zone };
    const subjectRaw = run(compile(path.join(found.dir, 'subject.hbs'), found.locale, false), root);
    // A subject is one header line: template newlines and any control character from data go.
    const subject = stripHeaderControls(subjectRaw.replace(/\s+/g, ' ')).trim();
    const body = run(compile(htmlFile, found.locale, true), root);
    const html = layoutFile ? run(compile(layoutFile, found.locale, true), { ...root, body, subject }) : body;
    const text = textFile ? run(compile(textFile, found.locale, false), root) : htmlToText(html);
    return {
      subject,
      html,
      text: text.endsWith('\n') ? text : `${text}\n`,
      locale: found.locale,
      template: name,
    };
  }

  function list(): Array<{ template: string; locale: string }> {
    const out: Array<{ template: string; locale: string }> = [];
    if (!existsSync(opts.dir)) return out;
    for (const locale of readdirSync(opts.dir).sort()) {
      const ldir = path.join(opts.dir, locale);
      if (!statSync(ldir).isDirectory()) continue;
      for (const t of readdirSync(ldir).sort()) {
        if (t.startsWith('_') || !existsSync(path.join(ldir, t, 'html.hbs'))) continue;
        out.push({ template: t, locale });
      }
    }
    return out;
  }

  function sample(name: string, locale: string): Record<string, unknown> {
    for (const l of [locale, ...localeChain(locale)]) {
      const f = path.join(opts.dir, l, normaliseTemplateName(name), 'sample.json');
      if (existsSync(f)) {
        try {
          return JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
        } catch (e) {
          throw new MailroomError(
            ErrorCodes.TEMPLATE_INVALID,
            `${rel(f)}: not valid JSON: ${(e as Error).message}`,
          );
        }
      }
    }
    throw new MailroomError(ErrorCodes.TEMPLATE_INVALID, `template "${name}" (${locale}) has no sample.json`);
  }

  function check(): TemplateCheckResult[] {
    return list().map(({ template, locale }) => {
      try {
        const r = renderTemplate(template, locale, sample(template, locale));
        if (r.locale !== locale) throw new Error(`rendered from ${r.locale} instead of ${locale}`);
        if (!r.subject) throw new Error('the subject is empty');
        return { template, locale, ok: true };
      } catch (e) {
        return { template, locale, ok: false, error: (e as Error).message };
      }
    });
  }

  return { renderTemplate, list, check, sample };
}

export { TEMPLATE_LOCALES };

/** The shop's name for templates: the display name of mail.from ("Lotus Tea <x@y>" -> "Lotus Tea"). */
export function shopNameFrom(from: string): string {
  const m = /^\s*"?([^"<]*?)"?\s*</.exec(from);
  return m?.[1]?.trim() || from.replace(/@.*$/, '');
}

export function templateRendererFromConfig(
  config: {
    paths: { templatesDir: string };
    web: { public_url?: string | undefined };
    mail: { from: string };
    sla: { time_zone: string };
  },
  overrides: Partial<TemplateRendererOptions> = {},
): TemplateRenderer {
  return createTemplateRenderer({
    dir: config.paths.templatesDir,
    publicUrl: config.web.public_url,
    defaultTimeZone: config.sla.time_zone,
    globals: { shop: { name: shopNameFrom(config.mail.from) } },
    ...overrides,
  });
}
