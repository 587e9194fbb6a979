import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordError } from '../../src/ingest/status.ts';
import { migrate, openDatabase } from '../../src/store/index.ts';
import { runCli, tempDir } from '../harness/index.ts';

describe('mailroom accounts status', () => {
  it('exits 1 in text and in --json when a mailbox has an error, 0 when none has', async () => {
    const dir = tempDir();
    const config = path.join(dir, 'mailroom.yaml');
    writeFileSync(
      config,
      [
        'data_dir: data',
        'imap:',
        '  accounts:',
        '    - id: shop',
        '      host: 127.0.0.1',
        '      user: shop',
        '      password_env: TEST_SHOP_PASSWORD',
        '',
      ].join('\n'),
    );
    const env = { MAILROOM_CONFIG: config, TEST_SHOP_PASSWORD: 'x' };

    const fine = await runCli(['accounts', 'status', '--json'], env);
    expect([fine.code, fine.err]).toEqual([0, '']);
    expect((await runCli(['accounts', 'status'], env)).code).toBe(0);

    const dbFile = path.join(dir, 'data', 'mailroom.sqlite');
    const db = openDatabase(dbFile);
    migrate(db, undefined, dbFile);
    recordError(db, { account: 'shop', mailbox: 'INBOX' }, 'AUTHENTICATIONFAILED', Date.now());
    db.close();

    const text = await runCli(['accounts', 'status'], env);
    expect(text.code).toBe(1);
    expect(text.out).toContain('last error: AUTHENTICATIONFAILED');
    const json = await runCli(['accounts', 'status', '--json'], env);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out)).toMatchObject([
      { account: 'shop', mailbox: 'INBOX', lastError: 'AUTHENTICATIONFAILED' },
    ]);
  });
});
