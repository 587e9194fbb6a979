import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ErrorCodes, MailroomError } from '../lib/index.ts';
import { configSchema, type ParsedConfig } from './schema.ts';

/** The project's own folder, so the shipped rules/ and templates/ are found from any cwd. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Secrets {
  sessionSecret: string | undefined;
  apiKey: string | undefined;
  metricsToken: string | undefined;
  smtpPassword: string | undefined;
  imap: Record<string, { password?: string; accessToken?: string }>;
}

export interface Config extends ParsedConfig {
  /** The file the config came from, or null when running on defaults. */
  source: string | null;
  paths: {
    dataDir: string;
    dbFile: string;
    rulesDir: string;
    templatesDir: string;
    blobDir: string;
  };
  credentials: Secrets;
}

/** An OAuth2 access token file's token (trimmed), or null when it cannot be read or is empty. */
export function readTokenFile(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/**
 * The credentials of one IMAP account as they are now: a token file is read again on every call
 * (the poller calls this before each connection), so a refreshed token is picked up without a
 * restart; secrets from the environment are fixed at start.
 */
export function imapCredentials(
  config: Config,
  accountId: string,
): { password?: string; accessToken?: string } {
  const account = config.imap.accounts.find((a) => a.id === accountId);
  if (account?.access_token_file) {
    const token = readTokenFile(account.access_token_file);
    if (token === null)
      throw new Error(`access_token_file ${account.access_token_file} cannot be read or is empty`);
    return { accessToken: token };
  }
  return config.credentials.imap[accountId] ?? {};
}

export interface LoadOptions {
  /** Path from --config; wins over MAILROOM_CONFIG. */
  configPath?: string | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * 'skip': the IMAP and SMTP secrets (password_env, access_token_env, access_token_file) are not
   * required to be set, for commands that never talk to a mail server (users, backup, rules ...);
   * the credentials of an unset one are left out. Default 'require'.
   */
  secrets?: 'require' | 'skip';
}

/** Environment variables that override a key of the file. Documented in the README. */
export const ENV_OVERRIDES: ReadonlyArray<{ env: string; key: string[]; type: 'string' | 'number' }> = [
  { env: 'MAILROOM_DATA_DIR', key: ['data_dir'], type: 'string' },
  { env: 'MAILROOM_LOG_LEVEL', key: ['log_level'], type: 'string' },
  { env: 'MAILROOM_RULES_DIR', key: ['rules_dir'], type: 'string' },
  { env: 'MAILROOM_TEMPLATES_DIR', key: ['templates_dir'], type: 'string' },
  { env: 'MAILROOM_REDIS_URL', key: ['redis_url'], type: 'string' },
  { env: 'MAILROOM_HOST', key: ['web', 'host'], type: 'string' },
  { env: 'MAILROOM_PORT', key: ['web', 'port'], type: 'number' },
  { env: 'MAILROOM_PUBLIC_URL', key: ['web', 'public_url'], type: 'string' },
  { env: 'MAILROOM_MAIL_DOMAIN', key: ['mail', 'domain'], type: 'string' },
  { env: 'MAILROOM_MAIL_FROM', key: ['mail', 'from'], type: 'string' },
  { env: 'MAILROOM_SMTP_HOST', key: ['smtp', 'host'], type: 'string' },
  { env: 'MAILROOM_SMTP_PORT', key: ['smtp', 'port'], type: 'number' },
  { env: 'MAILROOM_SMTP_MAX_CONNECTIONS', key: ['smtp', 'max_connections'], type: 'number' },
];

/** Keys that would hold a secret in the file; refused so secrets never land in a repo. */
const SECRET_KEYS = new Set(['password', 'access_token', 'session_secret', 'api_key', 'secret', 'token']);

function invalid(message: string, details?: Record<string, unknown>): MailroomError {
  return new MailroomError(ErrorCodes.CONFIG_INVALID, message, details);
}

export function formatPath(p: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of p) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(top level)';
}

/** JSON-quoted, with the characters JSON leaves raw but people cannot see (C1, U+2028/9) escaped. */
function quote(value: string): string {
  return JSON.stringify(value).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return quote(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

function issueMessage(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_type':
      if (input === undefined)
        return `is required (${issue.message.startsWith('expected') ? issue.message : `expected ${issue.expected}`})`;
      return `${issue.message.startsWith('Invalid') ? `expected ${issue.expected}` : issue.message}, got ${describe(input)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describe(input)}`;
    default:
      return input === undefined ? issue.message : `${issue.message}, got ${describe(input)}`;
  }
}

function setIn(obj: Record<string, unknown>, key: string[], value: unknown): void {
  let cur = obj;
  for (const k of key.slice(0, -1)) {
    const next = cur[k];
    if (next === undefined || next === null || typeof next !== 'object') cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  const last = key[key.length - 1];
  if (last !== undefined) cur[last] = value;
}

function findSecretKeys(value: unknown, at: PropertyKey[], out: PropertyKey[][]): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      findSecretKeys(v, [...at, i], out);
    });
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (SECRET_KEYS.has(k)) out.push([...at, k]);
      else findSecretKeys(v, [...at, k], out);
    }
  }
}

function resolveConfigPath(opts: LoadOptions, env: NodeJS.ProcessEnv, cwd: string): string | null {
  const explicit = opts.configPath ?? env.MAILROOM_CONFIG;
  if (explicit) {
    const p = path.resolve(cwd, explicit);
    if (!existsSync(p)) {
      throw new MailroomError(
        ErrorCodes.CONFIG_NOT_FOUND,
        `config file ${p} does not exist (from ${opts.configPath ? '--config' : 'MAILROOM_CONFIG'}); create it or leave the option out to run on defaults`,
      );
    }
    return p;
  }
  const local = path.resolve(cwd, 'mailroom.yaml');
  return existsSync(local) ? local : null;
}

/**
 * Loads mailroom.yaml (or runs on defaults without one), applies MAILROOM_* overrides and reads
 * secrets from the environment. Throws one MailroomError whose message lists every problem as
 * `file:line: key: what is expected, got what`.
 */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const requireSecrets = (opts.secrets ?? 'require') === 'require';
  const file = resolveConfigPath(opts, env, cwd);
  const fileLabel = file ? path.relative(cwd, file) || file : '(defaults)';

  let raw: Record<string, unknown> = {};
  const lineOf = new Map<string, number>();
  if (file) {
    const text = readFileSync(file, 'utf8');
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      const lines = doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return `${fileLabel}:${pos.line}:${pos.col}: ${e.message.split('\n')[0]}`;
      });
      throw invalid(`invalid YAML in ${fileLabel}:\n  ${lines.join('\n  ')}`);
    }
    const value = doc.toJS() as unknown;
    if (value !== null && value !== undefined) {
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw invalid(
          `${fileLabel}: expected a mapping of settings at the top level, got ${describe(value)}`,
        );
      }
      raw = value as Record<string, unknown>;
    }
    const remember = (node: unknown, at: PropertyKey[]): void => {
      if (!isNode(node)) return;
      if (node.range) lineOf.set(formatPath(at), lineCounter.linePos(node.range[0]).line);
      if (isMap(node)) {
        for (const pair of node.items) {
          const key = isNode(pair.key) ? (pair.key as { value?: unknown }).value : pair.key;
          if (isNode(pair.key) && pair.key.range)
            lineOf.set(formatPath([...at, String(key)]), lineCounter.linePos(pair.key.range[0]).line);
          remember(pair.value, [...at, String(key)]);
        }
      } else if ('items' in node && Array.isArray((node as { items: unknown[] }).items)) {
        (node as { items: unknown[] }).items.forEach((item, i) => {
          remember(item, [...at, i]);
        });
      }
    };
    remember(doc.contents, []);
  }

  const problems: string[] = [];
  const secretPaths: PropertyKey[][] = [];
  findSecretKeys(raw, [], secretPaths);
  for (const p of secretPaths) {
    const key = formatPath(p);
    const line = lineOf.get(key);
    problems.push(
      `${fileLabel}${line ? `:${line}` : ''}: ${key}: secrets are not read from the config file; use ${String(p[p.length - 1])}_env: NAME and put the value in that environment variable`,
    );
  }

  const fromEnv = new Map<string, string>();
  for (const o of ENV_OVERRIDES) {
    const v = env[o.env];
    if (v === undefined || v === '') continue;
    const value = o.type === 'number' && /^\d+$/.test(v.trim()) ? Number(v.trim()) : v;
    setIn(raw, o.key, value);
    fromEnv.set(formatPath(o.key), o.env);
  }

  const parsed = configSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = formatPath(issue.path);
      const envVar = fromEnv.get(key);
      const where = envVar
        ? `${envVar} (environment)`
        : `${fileLabel}${lineOf.has(key) ? `:${lineOf.get(key)}` : ''}`;
      problems.push(`${where}: ${key}: ${issueMessage(issue)}`);
    }
  }
  if (problems.length > 0 || !parsed.success) {
    throw invalid(
      problems.length === 1 ? (problems[0] as string) : `invalid configuration:\n  ${problems.join('\n  ')}`,
      {
        problems,
      },
    );
  }
  const cfg = parsed.data;

  const configDir = file ? path.dirname(file) : cwd;
  // Cross-field checks the schema cannot express.
  const seen = new Set<string>();
  cfg.imap.accounts.forEach((a, i) => {
    const at = `imap.accounts[${i}]`;
    const line = lineOf.get(at);
    const where = `${fileLabel}${line ? `:${line}` : ''}`;
    if (seen.has(a.id))
      problems.push(`${where}: ${at}.id: "${a.id}" is used by two accounts; ids must be unique`);
    seen.add(a.id);
    const secrets = [a.password_env, a.access_token_env, a.access_token_file].filter(Boolean).length;
    if (secrets !== 1) {
      const which = secrets ? 'only one of' : 'one of';
      problems.push(
        `${where}: ${at}: needs ${which} password_env, access_token_env or access_token_file (where the secret is)`,
      );
    }
    const tokenFile = a.access_token_file ? path.resolve(configDir, a.access_token_file) : null;
    if (requireSecrets && tokenFile && readTokenFile(tokenFile) === null)
      problems.push(`${where}: ${at}.access_token_file: ${tokenFile} cannot be read or is empty`);
    if (a.ca_file && !existsSync(path.resolve(configDir, a.ca_file)))
      problems.push(`${where}: ${at}.ca_file: ${path.resolve(configDir, a.ca_file)} does not exist`);
    for (const k of ['password_env', 'access_token_env'] as const) {
      const name = a[k];
      if (requireSecrets && name && !env[name])
        problems.push(`${where}: ${at}.${k}: environment variable ${name} is not set`);
    }
    if (a.after_ingest === 'move' && !a.move_to)
      problems.push(`${where}: ${at}.move_to: is required when after_ingest is "move"`);
  });
  if (requireSecrets && cfg.smtp.password_env && !env[cfg.smtp.password_env]) {
    problems.push(
      `${fileLabel}: smtp.password_env: environment variable ${cfg.smtp.password_env} is not set`,
    );
  }
  if (problems.length > 0) {
    throw invalid(
      problems.length === 1 ? (problems[0] as string) : `invalid configuration:\n  ${problems.join('\n  ')}`,
      {
        problems,
      },
    );
  }

  const dataDir = path.resolve(env.MAILROOM_DATA_DIR ? cwd : configDir, cfg.data_dir);
  const credentials: Secrets = {
    sessionSecret: env[cfg.secrets.session_secret_env] || undefined,
    apiKey: env[cfg.secrets.api_key_env] || undefined,
    metricsToken: env[cfg.secrets.metrics_token_env] || undefined,
    smtpPassword: cfg.smtp.password_env ? env[cfg.smtp.password_env] : undefined,
    imap: Object.fromEntries(
      cfg.imap.accounts.map((a) => {
        const s: { password?: string; accessToken?: string } = {};
        const password = a.password_env ? env[a.password_env] : undefined;
        const accessToken = a.access_token_env ? env[a.access_token_env] : undefined;
        if (password) s.password = password;
        if (accessToken) s.accessToken = accessToken;
        return [a.id, s];
      }),
    ),
  };
  // Account files resolve against the config file, like rules_dir and templates_dir.
  const accounts = cfg.imap.accounts.map((a) => ({
    ...a,
    ...(a.ca_file ? { ca_file: path.resolve(configDir, a.ca_file) } : {}),
    ...(a.access_token_file ? { access_token_file: path.resolve(configDir, a.access_token_file) } : {}),
  }));
  return {
    ...cfg,
    imap: { ...cfg.imap, accounts },
    source: file,
    paths: {
      dataDir,
      dbFile: path.join(dataDir, 'mailroom.sqlite'),
      rulesDir: cfg.rules_dir ? path.resolve(configDir, cfg.rules_dir) : path.join(PROJECT_ROOT, 'rules'),
      templatesDir: cfg.templates_dir
        ? path.resolve(configDir, cfg.templates_dir)
        : path.join(PROJECT_ROOT, 'templates'),
      blobDir: path.join(dataDir, 'blobs'),
    },
    credentials,
  };
}
