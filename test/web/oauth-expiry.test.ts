import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/index.ts';
import { jwtExpiry, tokenState } from '../../src/web/admin/oauth-expiry.ts';
import { createUser } from '../../src/web/index.ts';
import { tempDir } from '../harness/index.ts';
import { addUser, HOUR, login, makeWeb, NOW, PASSWORD, type TestWeb, testConfig } from './helpers.ts';

let web: TestWeb | undefined;
afterEach(async () => {
  await web?.app.close();
  web?.db.close();
  web = undefined;
});

/** An unsigned-looking JWT: only the payload matters here, nobody checks the signature. */
function jwt(claims: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

function account(id: string, extra: string): string {
  return `    - id: ${id}\n      host: imap.example.com\n      user: ${id}@shop.example\n${extra}`;
}

describe('OAuth token expiry', () => {
  it('reads exp from a JWT access token and nothing from opaque or broken tokens', () => {
    expect(jwtExpiry(jwt({ exp: 1_767_225_600, aud: 'https://outlook.office.com' }))).toBe(1_767_225_600_000);
    expect(jwtExpiry('ya29.a0AfH6SMBopaque-google-token')).toBeNull();
    expect(jwtExpiry('a.b.c')).toBeNull();
    expect(jwtExpiry(jwt({ sub: 'no exp' }))).toBeNull();
    expect(jwtExpiry(jwt({ exp: '1767225600' }))).toBeNull();
    expect(jwtExpiry('')).toBeNull();
    expect(tokenState(null, NOW)).toBe('unknown');
    expect(tokenState(NOW, NOW)).toBe('expired');
    expect(tokenState(NOW + 24 * HOUR, NOW)).toBe('soon');
    expect(tokenState(NOW + 25 * HOUR, NOW)).toBe('ok');
  });

  it('shows per OAuth account when its token expires, highlighting expired and soon-expiring ones', async () => {
    const dir = tempDir('mailroom-oauth-');
    const soonToken = jwt({ exp: Math.floor((NOW + 3 * HOUR) / 1000) });
    const laterToken = jwt({ exp: Math.floor((NOW + 30 * 24 * HOUR) / 1000) });
    const staleJwt = jwt({ exp: Math.floor((NOW + 90 * 24 * HOUR) / 1000) });
    writeFileSync(
      path.join(dir, 'mailroom.yaml'),
      [
        'imap:',
        '  accounts:',
        // The configured expiry wins over the token's own claim.
        account(
          'sales',
          '      access_token_env: SALES_TOKEN\n      access_token_expires_at: 2026-01-05T06:00:00Z',
        ),
        account('service', '      access_token_env: SERVICE_TOKEN'),
        account('finance', '      access_token_env: FINANCE_TOKEN'),
        account('hr', '      access_token_env: HR_TOKEN'),
        account('pr', '      password_env: PR_PASSWORD'),
        '',
      ].join('\n'),
    );
    web = await makeWeb(
      {},
      {
        SALES_TOKEN: staleJwt,
        SERVICE_TOKEN: soonToken,
        FINANCE_TOKEN: laterToken,
        HR_TOKEN: 'ya29.opaque-token',
        PR_PASSWORD: 'pw',
      },
      dir,
    );
    await addUser(web.db, 'boss', 'admin');
    const who = await login(web.app, 'boss');
    const res = await web.app.inject({ url: '/admin/health', headers: { cookie: who.cookie } });
    expect(res.statusCode).toBe(200);
    const row = (id: string) => {
      const m = new RegExp(`<tr id="token-${id}" class="([^"]+)">([\\s\\S]*?)</tr>`).exec(res.body);
      return m ? { cls: m[1], html: m[2] as string } : null;
    };
    expect(res.body).toContain('<h2 id="oauth-tokens">OAuth access tokens</h2>');

    const sales = row('sales');
    expect(sales?.cls).toBe('token-expired');
    expect(sales?.html).toContain('<time datetime="2026-01-05T06:00:00.000Z">2026-01-05 06:00 UTC</time>');
    expect(sales?.html).toContain('(from mailroom.yaml)');
    expect(sales?.html).toContain('<span class="token-state breached">expired</span>');

    const service = row('service');
    expect(service?.cls).toBe('token-soon');
    expect(service?.html).toContain('2026-01-05 15:00 UTC');
    expect(service?.html).toContain('(from the token)');
    expect(service?.html).toContain('<span class="token-state risk">expires within 24 h</span>');

    const finance = row('finance');
    expect(finance?.cls).toBe('token-ok');
    expect(finance?.html).toContain('2026-02-04 12:00 UTC');
    expect(finance?.html).toContain('<span class="token-state">valid</span>');

    const hr = row('hr');
    expect(hr?.cls).toBe('token-unknown');
    expect(hr?.html).toContain('<td>unknown</td>');

    // Password accounts are not OAuth accounts; and no token ever reaches the page.
    expect(row('pr')).toBeNull();
    for (const t of [soonToken, laterToken, staleJwt, 'ya29.opaque-token'])
      expect(res.body).not.toContain(t.slice(0, 30));
  });

  it('shows the expiry columns in Chinese for a zh-CN admin, and no section without OAuth accounts', async () => {
    const dir = tempDir('mailroom-oauth-');
    writeFileSync(
      path.join(dir, 'mailroom.yaml'),
      `imap:\n  accounts:\n${account('sales', '      access_token_env: SALES_TOKEN\n')}`,
    );
    web = await makeWeb({}, { SALES_TOKEN: 'opaque' }, dir);
    await createUser(web.db, new ManualClock(NOW), {
      username: 'lin',
      password: PASSWORD,
      role: 'admin',
      locale: 'zh-CN',
    });
    const who = await login(web.app, 'lin');
    const res = await web.app.inject({ url: '/admin/health', headers: { cookie: who.cookie } });
    expect(res.body).toContain('OAuth 访问令牌');
    expect(res.body).toContain('<td>未知</td>');
    await web.app.close();
    web.db.close();
    web = await makeWeb();
    await addUser(web.db, 'boss', 'admin');
    const boss = await login(web.app, 'boss');
    const bare = await web.app.inject({ url: '/admin/health', headers: { cookie: boss.cookie } });
    expect(bare.body).not.toContain('oauth-tokens');
  });

  it('refuses an expiry that is not a date-time with a zone, naming the key and the line', () => {
    const dir = tempDir('mailroom-oauth-');
    writeFileSync(
      path.join(dir, 'mailroom.yaml'),
      `imap:\n  accounts:\n${account('sales', '      access_token_env: SALES_TOKEN\n      access_token_expires_at: next tuesday\n')}`,
    );
    expect(() => testConfig(dir, { SALES_TOKEN: 'x' })).toThrow(
      /mailroom\.yaml:\d+: imap\.accounts\[0\]\.access_token_expires_at: expected a date-time such as "2026-03-01T09:00:00Z"/,
    );
  });
});
