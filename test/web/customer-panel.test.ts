import { afterEach, describe, expect, it } from 'vitest';
import { addUser, HOUR, login, makeWeb, NOW, seedConversation, type TestWeb } from './helpers.ts';

let web: TestWeb | undefined;
afterEach(async () => {
  await web?.app.close();
  web?.db.close();
  web = undefined;
});

describe('customer sidebar on the conversation page', () => {
  it("shows the customer's orders and history, newest first, without other departments' mail", async () => {
    web = await makeWeb();
    const from = 'emma@customer.example';
    const refund = seedConversation(web.db, {
      department: 'finance',
      subject: 'Refund for order 8812',
      fromAddr: from,
      receivedAgo: HOUR,
    });
    seedConversation(web.db, {
      department: 'sales',
      subject: 'Teapot price',
      fromAddr: from,
      receivedAgo: 3 * HOUR,
    });
    seedConversation(web.db, {
      department: 'hr',
      subject: 'My job application',
      fromAddr: from,
      receivedAgo: 2 * HOUR,
    });
    const customerId = (
      web.db.prepare('SELECT id FROM customers WHERE email = ?').get(from) as { id: number }
    ).id;
    web.db
      .prepare(
        `INSERT INTO orders (external_id, customer_id, status, currency, amount_cents, created_at, updated_at)
         VALUES ('SO-8812', ?, 'paid', 'CNY', 36600, ?, ?)`,
      )
      .run(customerId, NOW - 5 * HOUR, NOW - 5 * HOUR);
    await addUser(web.db, 'li', 'agent', ['finance', 'sales']);
    const who = await login(web.app, 'li');
    const page = await web.app.inject({
      url: `/c/${refund.conversationId}`,
      headers: { cookie: who.cookie },
    });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<td>SO-8812</td>');
    expect(page.body).toContain('366.00 CNY');
    const history = /<ol class="customer-timeline">([\s\S]*?)<\/ol>/.exec(page.body)?.[1] ?? '';
    const items = [
      ...history.matchAll(/<li class="([a-z_]+)"><small>[^<]*<\/small> (?:<a [^>]*>)?([^<]+)/g),
    ].map((m) => [m[1], m[2]?.trim()]);
    expect(items).toEqual([
      ['message_in', 'Refund for order 8812'],
      ['message_in', 'Teapot price'],
      ['order', 'order SO-8812: 366.00 CNY'],
    ]);
    expect(page.body).not.toContain('My job application');
  });
});
