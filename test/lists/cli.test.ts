import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { ManualClock, silentLogger } from '../../src/lib/index.ts';
import { type ListsDeps, subscribe, suppressionReason } from '../../src/lists/index.ts';
import { openDatabase } from '../../src/store/index.ts';
import { runCli, tempDir } from '../harness/index.ts';

const cli = (args: string[], dataDir: string) =>
  runCli(args, { MAILROOM_DATA_DIR: dataDir, MAILROOM_LOG_LEVEL: 'silent' });

describe('mailroom lists', () => {
  it('creates a list, imports people who confirmed elsewhere, exports and erases one address', async () => {
    const dir = tempDir();
    const csv = path.join(PROJECT_ROOT, 'test/fixtures/lists/import.csv');
    expect(
      (await cli(['lists', 'create', 'news', '--name', 'News', '--wording', 'Send me news'], dir)).code,
    ).toBe(0);
    const refused = await cli(['lists', 'import', 'news', csv], dir);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('--consent confirmed-elsewhere');
    const imp = await cli(
      [
        'lists',
        'import',
        'news',
        csv,
        '--consent',
        'confirmed-elsewhere',
        '--wording',
        'Ticked the box in our shop',
      ],
      dir,
    );
    expect(imp.out).toContain('2 confirmed');
    expect((await cli(['lists', 'ls'], dir)).out).toContain('news\tNews\tdouble\tpublic\t2 confirmed');
    const one = JSON.parse((await cli(['lists', 'export-address', 'bo@example.com'], dir)).out) as {
      consents: Array<{ wording: string }>;
    };
    expect(one.consents[0]?.wording).toBe('Ticked the box in our shop');
    expect((await cli(['lists', 'erase', 'bo@example.com'], dir)).code).toBe(0);
    expect((await cli(['lists', 'ls'], dir)).out).toContain('1 confirmed');
  });

  it('blocks an address on every list: no campaign mail, no new sign-up; unblock lifts it', async () => {
    const dir = tempDir();
    await cli(['lists', 'create', 'news', '--name', 'News', '--wording', 'Send me news'], dir);
    const csv = path.join(PROJECT_ROOT, 'test/fixtures/lists/import.csv');
    await cli(
      ['lists', 'import', 'news', csv, '--consent', 'confirmed-elsewhere', '--wording', 'In the shop'],
      dir,
    );
    expect((await cli(['lists', 'block', 'ANN@example.com'], dir)).code).toBe(0);
    expect((await cli(['lists', 'block', 'troll@example.net'], dir)).code).toBe(0);
    const db = openDatabase(path.join(dir, 'mailroom.sqlite'));
    try {
      expect(suppressionReason({ db }, 'ann@example.com')).toBe('blocklisted');
      const deps = { db, clock: new ManualClock(0), logger: silentLogger() } as unknown as ListsDeps;
      // A sign-up of a blocked address that mailroom had never seen is ignored, neutrally.
      expect(
        await subscribe(deps, { slug: 'news', email: 'troll@example.net', name: null, source: 'staff' }),
      ).toBe('ignored');
    } finally {
      db.close();
    }
    expect((await cli(['lists', 'unblock', 'ann@example.com'], dir)).code).toBe(0);
    const again = openDatabase(path.join(dir, 'mailroom.sqlite'));
    expect(suppressionReason({ db: again }, 'ann@example.com')).toBeNull();
    again.close();
    expect((await cli(['lists', 'block', 'not an address'], dir)).code).toBe(1);
  });
});
