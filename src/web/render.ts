import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import type { StaffUser } from './auth/users.ts';
import { translate } from './i18n/messages.ts';

const VIEWS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'views');

export interface NavLink {
  href: string;
  label: string;
}

export interface PageContext {
  user: StaffUser | null;
  csrfToken: string;
  locale: string;
  title: string;
  /** Extra staff navigation links for this user (from staff plugins that ask for one). */
  nav?: NavLink[];
  /** Server time, so scripts show SLA countdowns against the server clock, not the desk's. */
  now?: number;
}

export type Renderer = (view: string, page: PageContext, data: Record<string, unknown>) => string;

function formatTime(ms: unknown): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Compiles every view and partial once at start-up; {{ }} escapes, so views use {{{ }}} nowhere but the layout body. */
export function createRenderer(): Renderer {
  const hb = Handlebars.create();
  hb.registerHelper('t', function (this: unknown, key: string, options: Handlebars.HelperOptions) {
    const root = options.data?.root as { page?: PageContext } | undefined;
    return translate(root?.page?.locale ?? 'en', key, options.hash as Record<string, unknown>);
  });
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('time', (ms: unknown) => formatTime(ms));
  hb.registerHelper('isoTime', (ms: unknown) =>
    typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : '',
  );
  hb.registerHelper('kb', (n: unknown) =>
    typeof n === 'number' ? `${Math.max(1, Math.round(n / 1024))} KB` : '',
  );
  for (const f of readdirSync(path.join(VIEWS_DIR, 'partials'))) {
    if (f.endsWith('.hbs'))
      hb.registerPartial(f.slice(0, -4), readFileSync(path.join(VIEWS_DIR, 'partials', f), 'utf8'));
  }
  const views = new Map<string, Handlebars.TemplateDelegate>();
  for (const f of readdirSync(VIEWS_DIR)) {
    if (f.endsWith('.hbs'))
      views.set(f.slice(0, -4), hb.compile(readFileSync(path.join(VIEWS_DIR, f), 'utf8')));
  }
  const layout = views.get('layout');
  if (!layout) throw new Error('views/layout.hbs is missing');
  return (view, page, data) => {
    const tpl = views.get(view);
    if (!tpl) throw new Error(`view ${view} does not exist`);
    const ctx = { ...data, page };
    return layout({ page, body: tpl(ctx) });
  };
}
