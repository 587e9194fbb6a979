import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { migrate, openDatabase } from '../../src/store/index.ts';
import { checkPassword } from '../../src/web/index.ts';
import { runCli, tempDir } from '../harness/index.ts';

describe('mailroom users', () => {
  it('adds the first admin with a generated password printed once, which then logs in', async () => {
    const dir = tempDir();
    const env = { MAILROOM_DATA_DIR: dir };
    const res = await runCli(['users', 'add', 'owner', '--role', 'admin'], env);
    expect(res.code).toBe(0);
    expect(res.out).toContain('created admin owner');
    const password = /password \(shown once, store it now\): (\S+)/.exec(res.out)?.[1] ?? '';
    expect(password.length).toBeGreaterThanOrEqual(16);
    const db = openDatabase(path.join(dir, 'mailroom.sqlite'));
    migrate(db);
    expect(await checkPassword(db, 'owner', password)).toMatchObject({ role: 'admin' });
    const hash = (db.prepare('SELECT password_hash FROM users').get() as { password_hash: string })
      .password_hash;
    expect(hash).toMatch(/^\$argon2id\$/);
    db.close();
    const list = await runCli(['users', 'list'], env);
    expect(list.out).toBe('owner\tadmin\t-\ten');
  });

  it('needs no IMAP or SMTP password to add a user; start still asks for them', async () => {
    const dir = tempDir();
    const config = path.join(dir, 'mailroom.yaml');
    writeFileSync(
      config,
      [
        'data_dir: .',
        'imap:',
        '  accounts:',
        '    - { id: shop, host: imap.example.com, user: shop, password_env: MAILROOM_TEST_IMAP_PW }',
        'smtp: { host: smtp.example.com, password_env: MAILROOM_TEST_SMTP_PW }',
        '',
      ].join('\n'),
    );
    const add = await runCli(['users', 'add', 'owner', '--role', 'admin', '--config', config], {});
    expect(add.err).toBe('');
    expect(add.code).toBe(0);
    const start = await runCli(['start', '--config', config], {});
    expect(start.code).toBe(1);
    expect(start.err).toContain('environment variable MAILROOM_TEST_IMAP_PW is not set');
    expect(start.err).toContain('environment variable MAILROOM_TEST_SMTP_PW is not set');
  });

  it('adds an agent with departments and refuses bad input with a clear message', async () => {
    const dir = tempDir();
    const env = { MAILROOM_DATA_DIR: dir };
    expect(
      (await runCli(['users', 'add', 'sam', '--role', 'agent', '--departments', 'sales,finance'], env)).code,
    ).toBe(0);
    expect((await runCli(['users', 'list'], env)).out).toBe('sam\tagent\tsales,finance\ten');
    // Misuse of the command line exits 2 with one line, before any password is asked for.
    const noDept = await runCli(['users', 'add', 'kim', '--role', 'agent'], env);
    expect(noDept.code).toBe(2);
    expect(noDept.err).toBe(
      'mailroom users: an agent needs at least one department (--departments sales,finance); run "mailroom users --help"',
    );
    const badDept = await runCli(['users', 'add', 'kim', '--role', 'agent', '--departments', 'legal'], env);
    expect(badDept.code).toBe(2);
    expect(badDept.err).toContain('unknown department "legal"');
    const badRole = await runCli(['users', 'add', 'bob', '--role', 'boss'], env);
    expect(badRole.code).toBe(2);
    expect(badRole.err).toBe(
      'mailroom users: unknown role "boss"; use admin, agent, marketer; run "mailroom users --help"',
    );
    const badLocale = await runCli(['users', 'add', 'bob', '--role', 'admin', '--locale', 'fr'], env);
    expect(badLocale.code).toBe(2);
    const dup = await runCli(['users', 'add', 'SAM', '--role', 'admin'], env);
    expect(dup.code).toBe(1);
    expect(dup.err).toContain('already exists');
    const noRole = await runCli(['users', 'add', 'kim'], env);
    expect(noRole.code).toBe(2);
    expect(noRole.err).toContain('--role is required');
    expect((await runCli(['users', 'list'], env)).out).toBe('sam\tagent\tsales,finance\ten');
  });

  it('reads the password from stdin with --password-stdin and prints no password', async () => {
    const dir = tempDir();
    const res = spawnSync(
      process.execPath,
      [
        path.join(PROJECT_ROOT, 'bin/mailroom.js'),
        'users',
        'add',
        'lin',
        '--role',
        'admin',
        '--locale',
        'zh-CN',
        '--password-stdin',
      ],
      { input: 'a long passphrase 42\n', env: { ...process.env, MAILROOM_DATA_DIR: dir }, encoding: 'utf8' },
    );
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('created admin lin');
    expect(res.stdout).not.toContain('password');
    const db = openDatabase(path.join(dir, 'mailroom.sqlite'));
    expect(await checkPassword(db, 'lin', 'a long passphrase 42')).toMatchObject({ locale: 'zh-CN' });
    db.close();
  });
});
