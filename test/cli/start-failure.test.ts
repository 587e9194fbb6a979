import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { freePort, tempDir } from '../harness/index.ts';

const BIN = path.join(PROJECT_ROOT, 'bin', 'mailroom.js');

const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** Runs `mailroom start`; SIGKILLs it if it is still up after `ms` (a hang is a failure). */
function start(env: Record<string, string>, ms = 30_000) {
  const child = spawn(process.execPath, [BIN, 'start'], {
    cwd: tempDir(),
    env: { PATH: process.env.PATH ?? '', MAILROOM_LOG_LEVEL: 'silent', ...env },
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill('SIGKILL');
  }, ms);
  return new Promise<{ code: number | null; stderr: string; hung: boolean }>((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, hung });
    }),
  );
}

describe('mailroom start when the web server cannot start', () => {
  it('exits 1 with one line saying which port is taken and how to change it, instead of staying up', async () => {
    const taken = net.createServer();
    servers.push(taken);
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = (taken.address() as net.AddressInfo).port;

    const r = await start({ MAILROOM_PORT: String(port) });
    expect(r.hung).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `mailroom start: cannot start the web server: 127.0.0.1:${port} is already in use (another mailroom, or another program): set web.port (env MAILROOM_PORT) to a free port, or stop what listens there`,
    );
  });

  it('says so when the host is not an address of this machine', async () => {
    const r = await start({ MAILROOM_HOST: '192.0.2.1', MAILROOM_PORT: String(await freePort()) });
    expect(r.hung).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(
      /^mailroom start: cannot start the web server: 192\.0\.2\.1 is not an address/,
    );
  });
});
