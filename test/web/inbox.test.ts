import { afterEach, describe, expect, it } from 'vitest';
import { addUser, HOUR, login, makeWeb, seedConversation, type TestWeb } from './helpers.ts';

let web: TestWeb | undefined;
afterEach(async () => {
  await web?.app.close();
  web?.db.close();
  web = undefined;
});

/** Conversation ids in the order the inbox lists them. */
function order(html: string): number[] {
  return [...html.matchAll(/<tr class="row[^"]*" data-id="(\d+)"/g)].map((m) => Number(m[1]));
}

async function setup() {
  web = await makeWeb();
  await addUser(web.db, 'admin', 'admin');
  await addUser(web.db, 'sam', 'agent', ['sales']);
  return web;
}

describe('inbox', () => {
  it('lists breached first, then at risk, then by SLA due time, with conversations without a clock last', async () => {
    const web = await setup();
    const later = seedConversation(web.db, { department: 'sales', subject: 'due later', dueIn: 20 * HOUR });
    const none = seedConversation(web.db, { department: 'sales', subject: 'no clock' });
    const soon = seedConversation(web.db, { department: 'sales', subject: 'due soon', dueIn: 5 * HOUR });
    const risk = seedConversation(web.db, {
      department: 'finance',
      subject: 'at risk',
      dueIn: 8 * HOUR,
      warning: true,
    });
    const breached = seedConversation(web.db, { department: 'hr', subject: 'overdue', dueIn: -2 * HOUR });
    const who = await login(web.app, 'admin');
    const res = await web.app.inject({ url: '/inbox', headers: { cookie: who.cookie } });
    expect(order(res.body)).toEqual([
      breached.conversationId,
      risk.conversationId,
      soon.conversationId,
      later.conversationId,
      none.conversationId,
    ]);
    expect(res.body).toContain('class="badge breached"');
  });

  it('shows an agent only their departments, with counts per view, and 404 for another department by id', async () => {
    const web = await setup();
    const sales = seedConversation(web.db, { department: 'sales', subject: 'Quote for 40 units' });
    seedConversation(web.db, { department: 'sales', subject: 'Mine', assignee: 'sam' });
    const finance = seedConversation(web.db, { department: 'finance', subject: 'Invoice 2291' });
    const sam = await login(web.app, 'sam');
    const res = await web.app.inject({ url: '/inbox', headers: { cookie: sam.cookie } });
    expect(res.body).toContain('Quote for 40 units');
    expect(res.body).not.toContain('Invoice 2291');
    expect(res.body).toMatch(/Sales <span class="count">2<\/span>/);
    expect(res.body).toMatch(/Mine <span class="count">1<\/span>/);
    expect(res.body).not.toContain('Finance <span');
    const byView = await web.app.inject({ url: '/inbox?view=finance', headers: { cookie: sam.cookie } });
    expect(byView.body).not.toContain('Invoice 2291');
    expect(
      (await web.app.inject({ url: `/c/${finance.conversationId}`, headers: { cookie: sam.cookie } }))
        .statusCode,
    ).toBe(404);
    expect(
      (await web.app.inject({ url: `/c/${sales.conversationId}`, headers: { cookie: sam.cookie } }))
        .statusCode,
    ).toBe(200);
    const search = await web.app.inject({ url: '/inbox?q=Invoice', headers: { cookie: sam.cookie } });
    expect(search.body).not.toContain('Invoice 2291');
  });

  it('filters by urgency, status, assignee and tag', async () => {
    const web = await setup();
    seedConversation(web.db, {
      department: 'sales',
      subject: 'urgent one',
      urgency: 'urgent',
      tags: ['vip'],
    });
    seedConversation(web.db, { department: 'sales', subject: 'closed one', status: 'closed' });
    seedConversation(web.db, { department: 'sales', subject: 'sams one', assignee: 'sam' });
    const who = await login(web.app, 'admin');
    const get = async (q: string) =>
      (await web.app.inject({ url: `/inbox?${q}`, headers: { cookie: who.cookie } })).body;
    const urgent = await get('urgency=urgent');
    expect(urgent).toContain('urgent one');
    expect(urgent).not.toContain('sams one');
    expect(await get('status=closed')).toContain('closed one');
    expect(await get('')).not.toContain('closed one');
    const bySam = await get('assignee=sam');
    expect(bySam).toContain('sams one');
    expect(bySam).not.toContain('urgent one');
    expect(await get('assignee=-')).not.toContain('sams one');
    const tagged = await get('tag=vip');
    expect(tagged).toContain('urgent one');
    expect(tagged).not.toContain('sams one');
  });

  it('finds Chinese text by 3+ character terms (trigram index) and by 1-2 character terms (CJK pair index)', async () => {
    const web = await setup();
    seedConversation(web.db, {
      department: 'finance',
      subject: '申请退款',
      text: '订单 8812 的货物破损，请尽快退款。',
    });
    seedConversation(web.db, {
      department: 'sales',
      subject: 'Stock question',
      text: 'Do you have size 42?',
      fromName: '王小明',
    });
    const who = await login(web.app, 'admin');
    const get = async (q: string) =>
      (await web.app.inject({ url: `/inbox?q=${encodeURIComponent(q)}`, headers: { cookie: who.cookie } }))
        .body;
    const long = await get('货物破损');
    expect(long).toContain('申请退款');
    expect(long).not.toContain('Stock question');
    const short = await get('退款');
    expect(short).toContain('申请退款');
    expect(short).not.toContain('Stock question');
    expect(await get('王小明')).toContain('Stock question');
    expect(await get('size 42')).toContain('Stock question');
  });

  it('treats quotes, %, _ and FTS5 syntax in search and filters as plain text', async () => {
    const web = await setup();
    seedConversation(web.db, { department: 'sales', subject: 'Discount 50% off?', text: 'It\'s a "deal"' });
    seedConversation(web.db, { department: 'sales', subject: 'Plain question' });
    const who = await login(web.app, 'admin');
    for (const q of [
      "'",
      '"',
      '%',
      '50%',
      "' OR 1=1 --",
      'NEAR(a b)',
      'a* OR b',
      '_',
      '"deal"',
      '\\',
      'x"); DROP TABLE messages; --',
    ]) {
      const res = await web.app.inject({
        url: `/inbox?q=${encodeURIComponent(q)}`,
        headers: { cookie: who.cookie },
      });
      expect(res.statusCode, q).toBe(200);
      expect(res.body, q).not.toContain('Plain question');
    }
    expect(
      (
        await web.app.inject({
          url: `/inbox?q=${encodeURIComponent('50%')}`,
          headers: { cookie: who.cookie },
        })
      ).body,
    ).toContain('Discount 50% off?');
    for (const q of [
      'tag=%27',
      'assignee=%25',
      'urgency=%22',
      'view=%27%20OR%201',
      'status=%25',
      'page=-1',
      'page=abc',
    ]) {
      const res = await web.app.inject({ url: `/inbox?${q}`, headers: { cookie: who.cookie } });
      expect(res.statusCode, q).toBe(200);
    }
    expect(web.db.prepare('SELECT count(*) AS n FROM messages').get()).toEqual({ n: 2 });
  });

  it('pages 50 conversations at a time', async () => {
    const web = await setup();
    for (let i = 0; i < 55; i++)
      seedConversation(web.db, { department: 'sales', subject: `bulk ${i}`, dueIn: i * 60_000 });
    const who = await login(web.app, 'admin');
    const first = await web.app.inject({ url: '/inbox', headers: { cookie: who.cookie } });
    expect(order(first.body)).toHaveLength(50);
    expect(first.body).toContain('href="/inbox?page&#x3D;1"');
    const second = await web.app.inject({ url: '/inbox?page=1', headers: { cookie: who.cookie } });
    expect(order(second.body)).toHaveLength(5);
  });
});
