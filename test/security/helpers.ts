import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance, HTTPMethods } from 'fastify';
import { simpleParser } from 'mailparser';
import { type App, createApp, type Role } from '../../src/app.ts';
import { type Config, loadConfig } from '../../src/config/index.ts';
import { ManualClock, silentLogger } from '../../src/lib/index.ts';
import type { SmtpSender } from '../../src/outbound/index.ts';
import type { Db } from '../../src/store/index.ts';
import { createUser, type Role as StaffRole } from '../../src/web/index.ts';
import { freePort } from '../harness/index.ts';
import { NOW, PASSWORD } from '../web/helpers.ts';

export { cookieHeader, hiddenCsrf, type LoggedIn, login, NOW, PASSWORD, postForm } from '../web/helpers.ts';

/** Secret of the order API in every full app these tests start (signing secret = API key). */
export const API_KEY = 'security-suite-api-key-0123456789';
export const PUBLIC_URL = 'https://mail.shop.example';

/**
 * The whole mailroom as `mailroom start` builds it (src/app.ts: createApp + start), so the routes,
 * hooks and plugins under test are the ones a deployment serves, not a test-only composition.
 */
export interface FullApp {
  app: App;
  web: FastifyInstance;
  db: Db;
  config: Config;
  clock: ManualClock;
  base: string;
  dir: string;
  close(): Promise<void>;
}

export interface FullAppOptions {
  roles?: Role[];
  /** mailroom.yaml content, written to the data dir. */
  yaml?: string;
  env?: Record<string, string>;
  acknowledgeImports?: boolean;
  transport?: SmtpSender;
}

export async function startFullApp(opts: FullAppOptions = {}): Promise<FullApp> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-security-'));
  if (opts.yaml) writeFileSync(path.join(dir, 'mailroom.yaml'), opts.yaml);
  const config = loadConfig({
    env: {
      MAILROOM_DATA_DIR: dir,
      MAILROOM_PORT: String(await freePort()),
      MAILROOM_API_KEY: API_KEY,
      MAILROOM_PUBLIC_URL: PUBLIC_URL,
      ...opts.env,
    },
    cwd: dir,
  });
  const clock = new ManualClock(NOW);
  const app = await createApp({
    config,
    logger: silentLogger(),
    clock,
    ...(opts.acknowledgeImports ? { acknowledgeImports: true } : {}),
    ...(opts.transport ? { transport: opts.transport } : {}),
  });
  await app.start(opts.roles ?? ['web']);
  if (!app.web || !app.webUrl) throw new Error('the web role did not start');
  const web = app.web;
  return {
    app,
    web,
    db: app.db,
    config,
    clock,
    base: app.webUrl,
    dir,
    async close() {
      await app.stop(5000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function addStaff(db: Db, username: string, role: StaffRole, departments: string[] = []) {
  return createUser(db, new ManualClock(NOW), { username, password: PASSWORD, role, departments });
}

export interface RouteInfo {
  method: HTTPMethods;
  url: string;
}

/**
 * Every method + URL the instance serves, read from the router itself (printRoutes draws the
 * radix tree; a node's full path is its ancestors' labels joined). Each route found is checked
 * against hasRoute, so a misread tree fails loudly instead of silently testing fewer routes.
 */
export function routesOf(web: FastifyInstance): RouteInfo[] {
  const out: RouteInfo[] = [];
  const stack: string[] = [];
  for (const line of web.printRoutes().split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:└── |├── )(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = (m[1] ?? '').length / 4;
    stack.length = depth;
    stack.push(m[2] ?? '');
    for (const method of (m[3] ?? '').split(', ').filter(Boolean))
      out.push({ method: method as HTTPMethods, url: stack.join('') });
  }
  for (const r of out) {
    if (!web.hasRoute({ method: r.method, url: r.url }))
      throw new Error(`routesOf misread the router: ${r.method} ${r.url} is not a route`);
  }
  if (out.length < 20) throw new Error(`routesOf found only ${out.length} routes:\n${web.printRoutes()}`);
  return out;
}

export const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A concrete URL for a route pattern: `:name` from `params` (default "1"), `*` as "x". */
export function fillRoute(url: string, params: Record<string, string | number> = {}): string {
  return url
    .replace(/:(\w+)/g, (_m, name: string) => encodeURIComponent(String(params[name] ?? '1')))
    .replace(/\*$/, 'x');
}

export const key = (r: RouteInfo) => `${r.method} ${r.url}`;

/**
 * A digest of every row of every table: equal before and after a request means the request
 * changed nothing in the database.
 */
export function dbFingerprint(db: Db, skip: string[] = []): string {
  const tables = (
    db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .all() as { name: string }[]
  )
    .map((t) => t.name)
    .filter((t) => !skip.includes(t));
  const h = createHash('sha256');
  for (const t of tables) {
    h.update(`\u0000${t}\u0000`);
    for (const row of db.prepare(`SELECT * FROM "${t.replaceAll('"', '""')}"`).iterate())
      h.update(JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
  }
  return h.digest('hex');
}

/** The decoded text part of a raw mail (quoted-printable and base64 undone). */
export async function mailText(raw: Buffer | string): Promise<string> {
  const p = await simpleParser(raw);
  return p.text ?? '';
}
