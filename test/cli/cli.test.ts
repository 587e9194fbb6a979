import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { freePort, tempDir } from '../harness/index.ts';

const BIN = path.join(PROJECT_ROOT, 'bin', 'mailroom.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('mailroom CLI', () => {
  it('prints help for the program and for each command', async () => {
    const cwd = tempDir();
    const top = await run(['--help'], { cwd });
    expect(top.code).toBe(0);
    for (const c of ['start', 'worker', 'demo', 'migrate']) expect(top.stdout).toContain(`  ${c} `);
    for (const c of ['start', 'worker', 'demo', 'migrate']) {
      const r = await run([c, '--help'], { cwd });
      expect(r.code, c).toBe(0);
      expect(r.stdout).toContain(`Usage: mailroom ${c}`);
    }
  });

  it('exits 2 with one line on misuse', async () => {
    const cwd = tempDir();
    const unknown = await run(['frobnicate'], { cwd });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    const badFlag = await run(['migrate', '--nope'], { cwd });
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toBe(
      'mailroom migrate: unknown option "--nope" (an argument that starts with "-" goes after "--", as in -- --nope); run "mailroom migrate --help"\n',
    );
    const extra = await run(['reprocess', 'extra-arg'], { cwd });
    expect([extra.code, extra.stdout]).toEqual([2, '']);
    expect(extra.stderr).toBe(
      'mailroom reprocess: unexpected arguments: extra-arg; use --id N for one message; run "mailroom reprocess --help"\n',
    );
    const noTemplate = await run(['templates', 'preview', 'nope'], { cwd });
    expect(noTemplate.code).toBe(2);
    expect(noTemplate.stderr.trim().split('\n')).toHaveLength(1);
    expect(noTemplate.stderr).toMatch(
      /^mailroom templates: no template is named "nope"; the templates are acknowledgement, /,
    );
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('migrates a fresh data dir with no config file at all', async () => {
    const cwd = tempDir();
    const r = await run(['migrate'], { cwd });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(path.join(cwd, 'data', 'mailroom.sqlite'));
  });

  it('stops start-up on a bad config with one message saying what to fix', async () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, 'mailroom.yaml'), 'web:\n  port: "abc"\n');
    const r = await run(['start'], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      'mailroom start: mailroom.yaml:2: web.port: expected a number 1-65535, got "abc"',
    );
  });

  it('starts, answers /healthz, and exits 0 on SIGTERM', async () => {
    const cwd = tempDir();
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'start'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', MAILROOM_PORT: String(port), MAILROOM_LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let health: Response | undefined;
    for (let i = 0; i < 100 && !health; i++) {
      health = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      if (!health) await new Promise((r) => setTimeout(r, 100));
    }
    expect(health?.status).toBe(200);
    const stopAt = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - stopAt).toBeLessThanOrEqual(10_000);
  });

  it.each([
    ['start', 'SIGINT'],
    ['worker', 'SIGTERM'],
    ['worker', 'SIGINT'],
  ] as const)('%s stops gracefully on %s: exit 0 within 10 s', async (command, signal) => {
    const cwd = tempDir();
    const child = spawn(process.execPath, [BIN, command], {
      cwd,
      env: {
        PATH: process.env.PATH ?? '',
        MAILROOM_PORT: String(await freePort()),
        MAILROOM_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 200 && !out.includes('"msg":"mailroom started"'); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(out).toContain('"msg":"mailroom started"');
    const stopAt = Date.now();
    child.kill(signal);
    expect(await exited).toBe(0);
    expect(Date.now() - stopAt).toBeLessThanOrEqual(10_000);
    expect(out).toContain('"msg":"stopped"');
  });
});
