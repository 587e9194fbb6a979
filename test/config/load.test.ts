import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { imapCredentials, loadConfig, PROJECT_ROOT } from '../../src/config/index.ts';
import { isMailroomError } from '../../src/lib/index.ts';
import { tempDir } from '../harness/index.ts';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isMailroomError(e)) return e.message;
    throw e;
  }
  throw new Error('expected an error');
}

describe('config', () => {
  it('runs on defaults with no file: data dir ./data, web on 127.0.0.1:3000, shipped rules and templates', () => {
    const cwd = tempDir();
    const cfg = loadConfig({ env: {}, cwd });
    expect(cfg.source).toBeNull();
    expect(cfg.paths.dataDir).toBe(path.join(cwd, 'data'));
    expect(cfg.paths.dbFile).toBe(path.join(cwd, 'data', 'mailroom.sqlite'));
    expect(cfg.web).toMatchObject({ host: '127.0.0.1', port: 3000 });
    expect(cfg.paths.rulesDir).toBe(path.join(PROJECT_ROOT, 'rules'));
    expect(cfg.paths.templatesDir).toBe(path.join(PROJECT_ROOT, 'templates'));
  });

  it('names file, line, key, expectation and the bad value', () => {
    const cwd = tempDir();
    writeFileSync(
      path.join(cwd, 'mailroom.yaml'),
      'imap:\n  accounts:\n    - id: shop\n      host: imap.example.com\n      port: abc\n      user: u\n      password_env: P\n',
    );
    const msg = errorOf(() => loadConfig({ env: { P: 'x' }, cwd }));
    expect(msg).toBe('mailroom.yaml:5: imap.accounts[0].port: expected a number 1-65535, got "abc"');
  });

  it('refuses an unknown time zone at load, with file and line', () => {
    const cwd = tempDir();
    writeFileSync(
      path.join(cwd, 'mailroom.yaml'),
      'sla:\n  time_zone: Asia/Shanghai\nautomations:\n  time_zone: Mars/Olympus\n',
    );
    expect(errorOf(() => loadConfig({ env: {}, cwd }))).toBe(
      'mailroom.yaml:4: automations.time_zone: unknown time zone; use an IANA name such as "Asia/Shanghai" or "Europe/Berlin", got "Mars/Olympus"',
    );
  });

  it('reports misspelt keys instead of ignoring them', () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, 'mailroom.yaml'), 'web:\n  prot: 8080\n');
    expect(errorOf(() => loadConfig({ env: {}, cwd }))).toContain('web: unknown key "prot"');
  });

  it('refuses secrets written in the file and points to the env variable way', () => {
    const cwd = tempDir();
    writeFileSync(
      path.join(cwd, 'mailroom.yaml'),
      'imap:\n  accounts:\n    - id: shop\n      host: h\n      user: u\n      password: hunter2\n',
    );
    const msg = errorOf(() => loadConfig({ env: {}, cwd }));
    expect(msg).toContain(
      'imap.accounts[0].password: secrets are not read from the config file; use password_env',
    );
    expect(msg).not.toContain('hunter2');
  });

  it('reads secrets from the environment variable the file names, and says which one is unset', () => {
    const cwd = tempDir();
    writeFileSync(
      path.join(cwd, 'mailroom.yaml'),
      'imap:\n  accounts:\n    - id: shop\n      host: h\n      user: u\n      password_env: SHOP_PW\n',
    );
    expect(errorOf(() => loadConfig({ env: {}, cwd }))).toContain('environment variable SHOP_PW is not set');
    const cfg = loadConfig({ env: { SHOP_PW: 's3cret' }, cwd });
    expect(cfg.credentials.imap.shop?.password).toBe('s3cret');
  });

  it('takes an access token file beside the config file, reads it on every call, and wants one secret', () => {
    const dir = tempDir();
    const account = 'imap:\n  accounts:\n    - id: shop\n      host: h\n      user: u\n';
    writeFileSync(path.join(dir, 'mailroom.yaml'), `${account}      access_token_file: token.txt\n`);
    const load = () => loadConfig({ configPath: path.join(dir, 'mailroom.yaml'), cwd: tempDir(), env: {} });
    expect(errorOf(load)).toContain(`access_token_file: ${path.join(dir, 'token.txt')} cannot be read`);
    writeFileSync(path.join(dir, 'token.txt'), 'tok-1\n');
    const cfg = load();
    expect(imapCredentials(cfg, 'shop')).toEqual({ accessToken: 'tok-1' });
    writeFileSync(path.join(dir, 'token.txt'), 'tok-2\n');
    expect(imapCredentials(cfg, 'shop')).toEqual({ accessToken: 'tok-2' });

    writeFileSync(path.join(dir, 'mailroom.yaml'), account);
    expect(errorOf(load)).toContain('needs one of password_env, access_token_env or access_token_file');
    writeFileSync(
      path.join(dir, 'mailroom.yaml'),
      `${account}      password_env: P\n      access_token_file: token.txt\n`,
    );
    expect(
      errorOf(() => loadConfig({ configPath: path.join(dir, 'mailroom.yaml'), env: { P: 'x' } })),
    ).toContain('needs only one of');
  });

  it('lets MAILROOM_* variables override the file and names the variable when its value is bad', () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, 'mailroom.yaml'), 'web:\n  port: 4000\n');
    const cfg = loadConfig({ env: { MAILROOM_PORT: '5000', MAILROOM_DATA_DIR: '/tmp/x-data' }, cwd });
    expect(cfg.web.port).toBe(5000);
    expect(cfg.paths.dataDir).toBe('/tmp/x-data');
    expect(errorOf(() => loadConfig({ env: { MAILROOM_PORT: '99999' }, cwd }))).toBe(
      'MAILROOM_PORT (environment): web.port: expected a number 1-65535, got 99999',
    );
  });

  it('points at the YAML syntax error with line and column', () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, 'mailroom.yaml'), 'web:\n  port: [1, 2\n');
    expect(errorOf(() => loadConfig({ env: {}, cwd }))).toMatch(
      /invalid YAML in mailroom.yaml:\n {2}mailroom.yaml:\d+:\d+: /,
    );
  });

  it('fails clearly when --config names a file that does not exist', () => {
    const cwd = tempDir();
    expect(errorOf(() => loadConfig({ configPath: 'nope.yaml', env: {}, cwd }))).toContain(
      'nope.yaml does not exist (from --config)',
    );
  });
});
