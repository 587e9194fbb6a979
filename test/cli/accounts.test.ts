import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { recordError } from '../../src/ingest/status.ts';
import { migrate, openDatabase } from '../../src/store/index.ts';
import { tempDir } from '../harness/index.ts';

async function run(args: string[], env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), env });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

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

    const fine = await run(['accounts', 'status', '--json'], env);
    expect([fine.code, fine.err]).toEqual([0, '']);
    expect((await run(['accounts', 'status'], env)).code).toBe(0);

    const dbFile = path.join(dir, 'data', 'mailroom.sqlite');
    const db = openDatabase(dbFile);
    migrate(db, undefined, dbFile);
    recordError(db, { account: 'shop', mailbox: 'INBOX' }, 'AUTHENTICATIONFAILED', Date.now());
    db.close();

    const text = await run(['accounts', 'status'], env);
    expect(text.code).toBe(1);
    expect(text.out).toContain('last error: AUTHENTICATIONFAILED');
    const json = await run(['accounts', 'status', '--json'], env);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out)).toMatchObject([
      { account: 'shop', mailbox: 'INBOX', lastError: 'AUTHENTICATIONFAILED' },
    ]);
  });
});
