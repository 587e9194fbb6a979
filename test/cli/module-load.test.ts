import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { tempDir } from '../harness/index.ts';

const HEAVY = /\/node_modules\/(fastify|@fastify\/[^/]+|bullmq|@bull-board\/[^/]+|imapflow|smtp-server)\//;

/**
 * The packages a fresh Node process resolves when it imports `modules` (paths under the project),
 * recorded by a resolve hook: what a process built from them carries before it does anything.
 */
function packagesLoadedBy(modules: string[]): string[] {
  const dir = tempDir();
  const log = path.join(dir, 'resolved.txt');
  writeFileSync(log, '');
  writeFileSync(
    path.join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
  return r;
}
`,
  );
  writeFileSync(
    path.join(dir, 'register.mjs'),
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(path.join(dir, 'hooks.mjs')).href)});\n`,
  );
  const probe = path.join(dir, 'probe.mjs');
  writeFileSync(
    probe,
    modules
      .map((m) => `await import(${JSON.stringify(pathToFileURL(path.join(PROJECT_ROOT, m)).href)});`)
      .join('\n'),
  );
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', path.join(dir, 'register.mjs'), probe],
    {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`probe failed: ${r.stderr}`);
  const heavy = new Set<string>();
  for (const url of readFileSync(log, 'utf8').split('\n')) {
    const m = HEAVY.exec(url);
    if (m) heavy.add(m[1] as string);
  }
  return [...heavy].sort();
}

describe('what a mailroom process loads', () => {
  it('the CLI and the app load no web server, BullMQ, IMAP client or SMTP server until a role or command needs one', () => {
    expect(packagesLoadedBy(['src/cli/main.ts', 'src/app.ts'])).toEqual([]);
    // The probe sees them when they are loaded: the web barrel brings fastify.
    expect(packagesLoadedBy(['src/web/index.ts'])).toContain('fastify');
  }, 60_000);
});
