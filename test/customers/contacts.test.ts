import { describe, expect, it } from 'vitest';
import { normaliseAddress, recordContact } from '../../src/customers/index.ts';
import { migrate, openDatabase } from '../../src/store/index.ts';

describe('customer addresses', () => {
  it('folds case, converts IDN domains to punycode and links plus-tags', () => {
    expect(normaliseAddress(' Li.Wei@Example.COM ')).toEqual({
      email: 'li.wei@example.com',
      base: 'li.wei@example.com',
    });
    expect(normaliseAddress('wang@例子.中国')?.email).toBe('wang@xn--fsqu00a.xn--fiqs8s');
    expect(normaliseAddress('ann+orders@shop.example')).toEqual({
      email: 'ann+orders@shop.example',
      base: 'ann@shop.example',
    });
    expect(normaliseAddress('not an address')).toBeNull();
  });

  it('creates a customer on first contact and keeps first/last contact times', () => {
    const db = openDatabase(':memory:');
    migrate(db);
    const a = recordContact(db, { email: 'Ann@Example.com', name: 'Ann' }, 1000);
    const b = recordContact(db, { email: 'ann@example.com', name: 'Someone Else' }, 5000);
    expect(a?.id).toBe(b?.id);
    expect(b).toMatchObject({ name: 'Ann', first_contact_at: 1000, last_contact_at: 5000 });
  });
});
