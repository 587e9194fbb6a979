import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { type App, createApp, type Role } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { freePort, type ImapUser } from '../harness/index.ts';

/**
 * A whole mailroom as `mailroom start` builds it: a mailroom.yaml in its own data dir, secrets in
 * the environment, createApp, then the roles asked for. Warnings and errors are kept in `logs` so
 * a test can show (or assert on) what went wrong inside.
 */
export interface Instance {
  app: App;
  dir: string;
  /** warn and error log lines (JSON) written so far. */
  logs: string[];
  stop(): Promise<void>;
}

export interface InstanceOptions {
  /** mail.from, e.g. "Shop A <support@a.example>". */
  from: string;
  /** mail.domain. */
  domain: string;
  smtp?: { host: string; port: number };
  imap?: ImapUser;
  roles: Role[];
  /** Merged into the top level of mailroom.yaml. */
  yaml?: Record<string, unknown>;
  /** Runs between createApp and start (seed users, lists...). */
  beforeStart?: (app: App) => Promise<void> | void;
}

export async function startInstance(opts: InstanceOptions): Promise<Instance> {
  // Removed by stop(): usable from beforeAll, where the harness tempDir() is not.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-rel-'));
  const doc: Record<string, unknown> = {
    data_dir: './data',
    log_level: 'warn',
    web: { host: '127.0.0.1', port: await freePort() },
    mail: { domain: opts.domain, from: opts.from },
    smtp: { host: opts.smtp?.host ?? '127.0.0.1', port: opts.smtp?.port ?? 25, tls: 'none' },
    ...(opts.imap
      ? {
          imap: {
            accounts: [
              {
                id: 'shop',
                host: opts.imap.host,
                port: opts.imap.port,
                tls: 'none',
                user: opts.imap.user,
                password_env: 'MR_REL_IMAP_PASSWORD',
                history: 'all',
                poll_interval_s: 2,
              },
            ],
          },
        }
      : {}),
    ...opts.yaml,
  };
  const file = path.join(dir, 'mailroom.yaml');
  writeFileSync(file, stringify(doc));
  const config = loadConfig({
    configPath: file,
    cwd: dir,
    env: { MR_REL_IMAP_PASSWORD: opts.imap?.pass ?? '', MAILROOM_SESSION_SECRET: 'x'.repeat(48) },
  });
  const logs: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logs.push(line) });
  const app = await createApp({ config, logger });
  await opts.beforeStart?.(app);
  await app.start(opts.roles);
  let stopped = false;
  return {
    app,
    dir,
    logs,
    async stop() {
      if (stopped) return;
      stopped = true;
      await app.stop(9000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function waitUntil(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000) {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
