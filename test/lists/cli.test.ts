import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { tempDir } from '../harness/index.ts';

async function cli(args: string[], dataDir: string) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: { MAILROOM_DATA_DIR: dataDir, MAILROOM_LOG_LEVEL: 'silent' },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

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
});
