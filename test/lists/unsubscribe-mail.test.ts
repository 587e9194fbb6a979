import { afterEach, describe, expect, it } from 'vitest';
import {
  createList,
  handleUnsubscribeMail,
  subscribe,
  tokenFromUnsubscribeAddress,
  unsubscribeLinks,
} from '../../src/lists/index.ts';
import { setupLists, type TestLists } from './helpers.ts';

let dbs: TestLists[] = [];
afterEach(() => {
  for (const t of dbs) t.db.close();
  dbs = [];
});

function statuses(t: TestLists): string[] {
  return (
    t.db.prepare('SELECT status FROM list_memberships ORDER BY list_id').all() as Array<{ status: string }>
  ).map((r) => r.status);
}

describe('unsubscribe by mail', () => {
  it('a mail to the mailto address of List-Unsubscribe leaves that list', async () => {
    const t = setupLists();
    dbs.push(t);
    const news = createList(t.db, { slug: 'news', name: 'N', consentWording: 'ok', optin: 'single' }, 1);
    createList(t.db, { slug: 'deals', name: 'D', consentWording: 'ok', optin: 'single' }, 1);
    for (const slug of ['news', 'deals'])
      await subscribe(t.deps, { slug, email: 'mo@example.com', source: 'staff' });
    const id = (t.db.prepare('SELECT id FROM subscribers').get() as { id: number }).id;
    const { mailto, token } = unsubscribeLinks(t.deps, news.id, id, 'mo@example.com');
    const to = mailto.replace(/^mailto:/, '').replace(/\?.*$/, '');
    // Some MTAs fold the local part to upper case: the token survives.
    expect(tokenFromUnsubscribeAddress(to.toUpperCase())).toBe(token);
    expect(
      handleUnsubscribeMail(t.deps, {
        to: to.toUpperCase(),
        from: 'someone-else@example.org',
        subject: 'unsubscribe',
      }),
    ).toBe(true);
    expect(statuses(t)).toEqual(['unsubscribed', 'confirmed']);
  });

  it('a mail to plain unsubscribe@ leaves every list for the sender; other mail is not ours', async () => {
    const t = setupLists();
    dbs.push(t);
    createList(t.db, { slug: 'news', name: 'N', consentWording: 'ok', optin: 'single' }, 1);
    await subscribe(t.deps, { slug: 'news', email: 'mo@example.com', source: 'staff' });
    expect(handleUnsubscribeMail(t.deps, { to: 'sales@shop.example.com', from: 'mo@example.com' })).toBe(
      false,
    );
    expect(statuses(t)).toEqual(['confirmed']);
    expect(
      handleUnsubscribeMail(t.deps, { to: ['unsubscribe@shop.example.com'], from: 'Mo@Example.com' }),
    ).toBe(true);
    expect(statuses(t)).toEqual(['unsubscribed']);
  });
});
