import { afterEach, describe, expect, it } from 'vitest';
import {
  cancelCampaign,
  createCampaign,
  createCampaignRunner,
  createList,
  expandCampaign,
  hashAddress,
  listNotices,
  pauseCampaign,
  progress,
  resumeCampaign,
  scheduleCampaign,
  sendTokenFromAddress,
  startCampaign,
  subscribe,
  unsubscribeByToken,
  unsubscribeLinks,
} from '../../src/lists/index.ts';
import { setupLists, type TestLists } from './helpers.ts';
import { testQueue } from './test-queue.ts';

let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups) await c();
  cleanups = [];
});

function world(overrides: Parameters<typeof setupLists>[0] = {}) {
  const t = setupLists(overrides);
  cleanups.push(() => t.db.close());
  const news = createList(t.db, { slug: 'news', name: 'News', consentWording: 'ok', optin: 'single' }, 1);
  const deals = createList(t.db, { slug: 'deals', name: 'Deals', consentWording: 'ok', optin: 'single' }, 1);
  return { t, news, deals };
}

async function join(t: TestLists, slug: string, email: string, name?: string) {
  await subscribe(t.deps, { slug, email, name: name ?? null, source: 'staff' });
}

function sendRows(t: TestLists, campaignId: number) {
  return t.db
    .prepare('SELECT email, status, error FROM campaign_sends WHERE campaign_id = ? ORDER BY email')
    .all(campaignId) as Array<{ email: string; status: string; error: string | null }>;
}

describe('campaigns', () => {
  it('expands lists and segment into one row per address, minus blocklisted, erased and suppressed', async () => {
    const segment = [
      { email: 'A@example.com', name: 'Dup of list member', customerId: null },
      { email: 'seg@example.org', name: 'Seg', customerId: null },
      { email: 'seg@example.org', name: 'Seg twice', customerId: null },
      { email: 'gone@example.org', name: null, customerId: null },
    ];
    const { t, news, deals } = world({
      segmentMembers: () => segment,
      isSuppressed: (e) => e === 'sup@example.com',
    });
    for (const e of ['a@example.com', 'b@example.com', 'sup@example.com', 'blk@example.com'])
      await join(t, 'news', e);
    for (const e of ['a@example.com', 'c@example.net']) await join(t, 'deals', e);
    t.db.prepare(`UPDATE subscribers SET status = 'blocklisted' WHERE email = 'blk@example.com'`).run();
    t.db
      .prepare('INSERT INTO erased_addresses (email_sha256, erased_at) VALUES (?, 1)')
      .run(hashAddress('gone@example.org'));
    const c = createCampaign(
      t.db,
      { name: 'Spring', listIds: [news.id, deals.id], segmentId: 'vip', template: 'news', subject: 'Spring' },
      t.clock.now(),
    );
    expect(await expandCampaign(t.deps, c.id)).toBe(7);
    expect(sendRows(t, c.id)).toEqual([
      { email: 'a@example.com', status: 'pending', error: null },
      { email: 'b@example.com', status: 'pending', error: null },
      { email: 'blk@example.com', status: 'skipped', error: 'blocklisted' },
      { email: 'c@example.net', status: 'pending', error: null },
      { email: 'gone@example.org', status: 'skipped', error: 'erased' },
      { email: 'seg@example.org', status: 'pending', error: null },
      { email: 'sup@example.com', status: 'skipped', error: 'suppressed' },
    ]);
    // Running it again (a crash mid-expansion) adds nothing.
    t.db.prepare('UPDATE campaigns SET expanded_at = NULL').run();
    expect(await expandCampaign(t.deps, c.id)).toBe(7);
  });

  it('expands 100,000 confirmed subscribers', async () => {
    const { t, news } = world();
    t.db.transaction(() => {
      const s = t.db.prepare(`INSERT INTO subscribers (email, created_at, updated_at) VALUES (?, 1, 1)`);
      const m = t.db.prepare(
        `INSERT INTO list_memberships (list_id, subscriber_id, status, created_at, requested_at) VALUES (?, ?, 'confirmed', 1, 1)`,
      );
      for (let i = 0; i < 100_000; i++) m.run(news.id, s.run(`u${i}@d${i % 50}.example`).lastInsertRowid);
    })();
    const c = createCampaign(t.db, { name: 'Big', listIds: [news.id], template: 'n', subject: 'S' }, 1);
    expect(await expandCampaign(t.deps, c.id)).toBe(100_000);
    expect(progress(t.db, c.id)).toMatchObject({ total: 100_000, pending: 100_000 });
  });

  it('sends each recipient once with List-Unsubscribe, one-click, VERP and a visible link', async () => {
    const { t, news } = world();
    for (let i = 0; i < 12; i++) await join(t, 'news', `p${i}@example.com`, `P${i}`);
    const queue = testQueue();
    const runner = createCampaignRunner({ deps: t.deps, queue });
    runner.work();
    const c = createCampaign(t.db, { name: 'N', listIds: [news.id], template: 'news', subject: 'Hello' }, 1);
    startCampaign(t.db, c.id, t.clock.now());
    for (let i = 0; i < 10 && progress(t.db, c.id).status !== 'done'; i++) {
      await runner.tick();
      await queue.drain();
      t.clock.advance(1000);
    }
    expect(progress(t.db, c.id)).toMatchObject({ status: 'done', sent: 12, total: 12 });
    expect(new Set(t.outbox.map((m) => m.to)).size).toBe(12);
    const m = t.outbox[0];
    expect(m?.headers['List-Unsubscribe']).toMatch(
      /^<https:\/\/shop\.example\.com\/u\/[^>]+>, <mailto:unsubscribe\+/,
    );
    expect(m?.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    expect(m?.text).toContain('https://shop.example.com/u/');
    expect(sendTokenFromAddress(m?.envelopeFrom ?? '')).toMatch(/^[0-9a-f]{20}$/);
    expect(m?.subject).toBe('Hello');
  });

  it('throttles overall and per domain, and the counters survive a restart', async () => {
    const { t, news } = world({ settings: { ratePerSecond: 5, perDomainPerSecond: 2 } });
    for (let i = 0; i < 6; i++) await join(t, 'news', `a${i}@one.example`);
    for (let i = 0; i < 6; i++) await join(t, 'news', `b${i}@two.example`);
    for (let i = 0; i < 6; i++) await join(t, 'news', `c${i}@three.example`);
    const queue = testQueue();
    const c = createCampaign(t.db, { name: 'N', listIds: [news.id], template: 'n', subject: 'S' }, 1);
    startCampaign(t.db, c.id, t.clock.now());
    const runner = createCampaignRunner({ deps: t.deps, queue });
    expect(await runner.tick()).toBe(5);
    const perDomain = t.db
      .prepare(`SELECT domain, count(*) AS n FROM campaign_sends WHERE status = 'queued' GROUP BY domain`)
      .all() as Array<{ n: number }>;
    expect(Math.max(...perDomain.map((r) => r.n))).toBe(2);
    // A restarted dispatcher in the same second gets no new slots.
    const restarted = createCampaignRunner({ deps: t.deps, queue });
    expect(await restarted.tick()).toBe(0);
    t.clock.advance(1000);
    expect(await restarted.tick()).toBe(5);
  });

  it('an unsubscribe during the campaign stops the mail to that person', async () => {
    const { t, news } = world();
    for (const e of ['x@example.com', 'y@example.com']) await join(t, 'news', e);
    const queue = testQueue();
    const runner = createCampaignRunner({ deps: t.deps, queue });
    const c = createCampaign(t.db, { name: 'N', listIds: [news.id], template: 'n', subject: 'S' }, 1);
    startCampaign(t.db, c.id, t.clock.now());
    await runner.tick(); // expanded and queued, not sent yet (no worker)
    const sub = t.db.prepare(`SELECT id FROM subscribers WHERE email = 'y@example.com'`).get() as {
      id: number;
    };
    unsubscribeByToken(t.deps, unsubscribeLinks(t.deps, news.id, sub.id, 'y@example.com').token, 'list', {});
    runner.work();
    await queue.drain();
    expect(t.outbox.map((m) => m.to)).toEqual(['x@example.com']);
    expect(sendRows(t, c.id).find((r) => r.email === 'y@example.com')).toMatchObject({
      status: 'skipped',
      error: 'unsubscribed',
    });
  });

  it('pause holds sends, resume continues, cancel skips the rest; schedule waits for its time', async () => {
    const { t, news } = world();
    for (let i = 0; i < 4; i++) await join(t, 'news', `q${i}@example.com`);
    const queue = testQueue();
    const runner = createCampaignRunner({ deps: t.deps, queue });
    const c = createCampaign(t.db, { name: 'N', listIds: [news.id], template: 'n', subject: 'S' }, 1);
    scheduleCampaign(t.db, c.id, t.clock.now() + 3600_000, t.clock.now());
    expect(await runner.tick()).toBe(0);
    expect(progress(t.db, c.id).status).toBe('scheduled');
    t.clock.advance(3600_000);
    await runner.tick();
    expect(progress(t.db, c.id)).toMatchObject({ status: 'running', queued: 4 });
    pauseCampaign(t.db, c.id, t.clock.now());
    runner.work();
    await queue.drain();
    expect(t.outbox).toHaveLength(0);
    resumeCampaign(t.db, c.id, t.clock.now());
    queue.retryParked(); // the queue retries the held jobs after their delay
    await queue.drain();
    expect(progress(t.db, c.id).sent).toBe(4);

    const c2 = createCampaign(t.db, { name: 'N2', listIds: [news.id], template: 'n', subject: 'S' }, 1);
    await expandCampaign(t.deps, c2.id);
    cancelCampaign(t.db, c2.id, t.clock.now());
    expect(progress(t.db, c2.id)).toMatchObject({ status: 'cancelled', skipped: 4, pending: 0 });
  });

  it('test send goes only to the given addresses, marked [TEST]', async () => {
    const { t, news } = world();
    await join(t, 'news', 'real@example.com');
    const runner = createCampaignRunner({ deps: t.deps, queue: testQueue() });
    const c = createCampaign(t.db, { name: 'N', listIds: [news.id], template: 'n', subject: 'Sale' }, 1);
    expect(await runner.testSend(c.id, ['boss@shop.example.com'])).toBe(1);
    expect(t.outbox.map((m) => [m.to, m.subject])).toEqual([['boss@shop.example.com', '[TEST] Sale']]);
    expect(progress(t.db, c.id).total).toBe(0);
    expect(listNotices(t.db, c.id)).toEqual([]);
  });
});
