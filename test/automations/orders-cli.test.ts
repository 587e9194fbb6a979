import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../harness/index.ts';

const cli = (args: string[], dataDir: string) => runCli(args, { MAILROOM_DATA_DIR: dataDir });

describe('mailroom orders / customers commands', () => {
  it('imports a CSV, prints one line per bad row and exits 1 when a row was rejected', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'orders.csv');
    writeFileSync(
      file,
      'id,email,currency,amount\nA-1,ann@example.com,CNY,10.00\nA-2,bob@example.com,CNY,ten\n',
    );
    const res = await cli(['orders', 'import', file], path.join(dir, 'data'));
    expect(res.code).toBe(1);
    expect(res.err).toBe(`${file}:3 (order A-2): amount: expected a whole number of cents >= 0`);
    expect(res.out).toBe('1 created, 0 updated, 1 rejected');

    const show = await cli(['customers', 'show', 'ANN@example.com'], path.join(dir, 'data'));
    expect(show.code).toBe(0);
    expect(show.out).toContain('ann@example.com');
    expect(show.out).toContain('order A-1: 10.00 CNY');

    const seg = await cli(
      ['customers', 'segment', 'save', 'buyers', 'Buyers', '{"min_orders":1}'],
      path.join(dir, 'data'),
    );
    expect(seg.out).toBe('segment buyers saved: 1 customers now');
  });
});
