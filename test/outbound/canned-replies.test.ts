import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { loadCannedReplies } from '../../src/outbound/index.ts';
import { tempDir } from '../harness/index.ts';

describe('canned replies', () => {
  it('come in the staff member’s language, falling back to English snippet by snippet', () => {
    const dir = tempDir();
    const put = (loc: string, file: string, body: string) => {
      mkdirSync(path.join(dir, loc, '_canned'), { recursive: true });
      writeFileSync(path.join(dir, loc, '_canned', file), body);
    };
    put('en', '10-parcel.txt', 'Parcel on its way\nIt left the warehouse.\n');
    put('en', '20-refund.txt', 'Refund started\r\nMoney back in 3 days.\r\n');
    put('zh-TW', '10-parcel.txt', '包裹已寄出\n已從倉庫寄出。\n');
    expect(loadCannedReplies(dir, 'zh-TW')).toEqual([
      { name: '包裹已寄出', text: '已從倉庫寄出。' },
      { name: 'Refund started', text: 'Money back in 3 days.' },
    ]);
    expect(loadCannedReplies(dir, 'en').map((c) => c.name)).toEqual(['Parcel on its way', 'Refund started']);
    expect(loadCannedReplies(path.join(dir, 'missing'), 'en')).toEqual([]);
  });

  it('ship in English, Simplified and Traditional Chinese', () => {
    const dir = path.join(PROJECT_ROOT, 'templates');
    for (const loc of ['en', 'zh-CN', 'zh-TW']) {
      const replies = loadCannedReplies(dir, loc);
      expect(replies.length).toBeGreaterThanOrEqual(3);
      for (const r of replies) expect(r.text.length).toBeGreaterThan(20);
    }
    expect(loadCannedReplies(dir, 'zh-CN')[0]?.name).toBe('包裹已发出');
  });
});
