import { describe, expect, it } from 'vitest';
import { untranslated } from '../../src/web/i18n/messages.ts';

describe('staff UI translations', () => {
  it('has every text in Simplified and Traditional Chinese (the product name and VIP stay as they are)', () => {
    const same = ['app_name', 'vip'];
    expect(untranslated('zh-CN').filter((k) => !same.includes(k))).toEqual([]);
    expect(untranslated('zh-TW').filter((k) => !same.includes(k))).toEqual([]);
  });
});
