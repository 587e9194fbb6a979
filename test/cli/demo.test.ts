import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nextAllowedTime } from '../../src/automations/index.ts';
import { demoConfig } from '../../src/cli/demo/config.ts';
import { loadConfig } from '../../src/config/index.ts';
import { freePort, tempDir } from '../harness/index.ts';
import { cookieHeader, hiddenCsrf } from '../web/helpers.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/mailroom.js');

async function until<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('mailroom demo', () => {
  it('runs the whole product on one command: sorted sample mail, acknowledgements in the writer’s script, caught mail', async () => {
    const cwd = tempDir();
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'demo'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', MAILROOM_PORT: String(port), MAILROOM_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const [, user, password] = await until(
        () => /log in as "([^"]+)" with password "([^"]+)"/.exec(out) ?? undefined,
      );
      expect(out).toContain('9 sample mails imported');
      const base = `http://127.0.0.1:${port}`;

      const form = await fetch(`${base}/login`);
      const pre = cookieHeader(form.headers.getSetCookie());
      const res = await fetch(`${base}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: pre, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          _csrf: hiddenCsrf(await form.text()),
          username: user as string,
          password: password as string,
          next: '/inbox',
        }),
      });
      expect(res.status).toBe(303);
      const cookie = cookieHeader(res.headers.getSetCookie());

      const inbox = await (await fetch(`${base}/inbox`, { headers: { cookie } })).text();
      expect(inbox).toContain('請問我的包裹到哪裡了？');
      // The staff navigation links to the caught mail, in the demo only.
      expect(inbox).toContain('<a href="/demo/mail">Caught mail</a>');

      // Acknowledgements go out through the queue: wait until the catcher shows them.
      const caught = await until(async () => {
        const page = await (await fetch(`${base}/demo/mail`, { headers: { cookie } })).text();
        return page.includes('我們已收到您的來信：請問我的包裹到哪裡了？') && page.includes('New spring teas')
          ? page
          : undefined;
      });
      expect(caught).toContain('我们已收到您的来信');
      expect(caught).toContain('We have received your message');
      // The sample order's confirmation is sent at once, at any hour (the demo has no quiet hours).
      await until(async () => {
        const page = await (await fetch(`${base}/demo/mail`, { headers: { cookie } })).text();
        return page.includes('订单确认：DEMO-10452') || undefined;
      });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 90_000);

  it('turns quiet hours off, so the sample order is confirmed whatever the hour in Shanghai', () => {
    const base = loadConfig({ env: {}, cwd: tempDir() });
    expect(base.automations.quiet_hours).not.toBeNull();
    const config = demoConfig(base, { host: '127.0.0.1', port: 2525 });
    expect(config.automations.quiet_hours).toBeNull();
    // 23:00 in Shanghai: the default quiet hours would hold the confirmation until 08:00.
    const lateEvening = Date.parse('2026-03-02T15:00:00Z');
    expect(nextAllowedTime(lateEvening, 'Asia/Shanghai', config.automations.quiet_hours)).toBe(lateEvening);
    expect(config.paths.dataDir).toBe(`${base.paths.dataDir}/demo`);
    expect(config.imap.accounts).toEqual([]);
  });
});
