import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { normaliseTemplateName, templateRendererFromConfig } from '../../outbound/index.ts';
import { type Command, type CommandContext, UsageError } from '../command.ts';

/** The renderer of the configured templates; links use a stand-in base URL without web.public_url. */
function renderer(ctx: CommandContext) {
  const config = ctx.config();
  return templateRendererFromConfig(
    config,
    config.web.public_url ? {} : { publicUrl: `http://${config.web.host}:${config.web.port}` },
  );
}

/** Says on stderr when the links are under the stand-in base URL. */
function notePublicUrl(ctx: CommandContext): void {
  const { web } = ctx.config();
  if (!web.public_url)
    ctx.err(
      `note: web.public_url is not set; links are shown under http://${web.host}:${web.port} (set it before sending real mail)`,
    );
}

function check(ctx: CommandContext): number {
  notePublicUrl(ctx);
  const results = renderer(ctx).check();
  if (results.length === 0) {
    ctx.err(`no templates found in ${ctx.config().paths.templatesDir}`);
    return 1;
  }
  let bad = 0;
  for (const r of results) {
    if (r.ok) ctx.out(`ok    ${r.locale}/${r.template}`);
    else {
      bad += 1;
      ctx.out(`FAIL  ${r.locale}/${r.template}: ${r.error}`);
    }
  }
  ctx.out(`${results.length - bad} of ${results.length} templates render with their sample.json`);
  return bad === 0 ? 0 : 1;
}

function preview(ctx: CommandContext, name: string | undefined): number {
  if (!name)
    throw new UsageError('name the template to preview, e.g. mailroom templates preview acknowledgement');
  const locale = typeof ctx.values.locale === 'string' ? ctx.values.locale : 'en';
  const r = renderer(ctx);
  // A name no template has is misuse (exit 2, one line), told before any note.
  const known = [...new Set(r.list().map((t) => t.template))];
  let canonical: string | undefined;
  try {
    canonical = normaliseTemplateName(name);
  } catch {
    canonical = undefined;
  }
  if (canonical === undefined || !known.includes(canonical))
    throw new UsageError(
      known.length
        ? `no template is named "${name}"; the templates are ${known.join(', ')}`
        : `no template is named "${name}"; ${ctx.config().paths.templatesDir} has no templates`,
    );
  notePublicUrl(ctx);
  const rendered = r.renderTemplate(name, locale, r.sample(name, locale));
  const out =
    typeof ctx.values.out === 'string'
      ? ctx.values.out
      : path.resolve(`preview-${rendered.template}-${locale}.html`);
  mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  writeFileSync(out, rendered.html);
  ctx.out(`subject: ${rendered.subject}`);
  ctx.out(`${rendered.locale}/${rendered.template} written to ${path.resolve(out)}; open it in a browser`);
  return 0;
}

export const templatesCommand: Command = {
  name: 'templates',
  summary: 'check the mail templates, or write one as HTML to look at in a browser',
  usage: 'check\npreview NAME [--locale zh-CN] [--out FILE]',
  options: {
    locale: { type: 'string' },
    out: { type: 'string' },
  },
  help: [
    'check:   renders every template of every locale with the sample.json beside it; exit 1 if any',
    '         fails (a missing variable names the file, line and variable).',
    'preview: renders NAME with its sample data in --locale (default en; zh-HK falls back to zh-TW,',
    '         then en) and writes the HTML to --out (default ./preview-NAME-LOCALE.html).',
  ].join('\n'),
  async run(ctx) {
    const [sub, name, ...rest] = ctx.positionals;
    if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
    switch (sub) {
      case 'check':
        return check(ctx);
      case 'preview':
        return preview(ctx, name);
      default:
        throw new UsageError(
          sub ? `unknown subcommand "${sub}"; expected check or preview` : 'expected check or preview',
        );
    }
  },
};
