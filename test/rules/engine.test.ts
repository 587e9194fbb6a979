import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/rules/index.ts';
import { mail, rules } from './helpers.ts';

const refund = `
rules:
  - name: refund
    when:
      any_text: { contains_any: [退款, refund, "money back"] }
    then: { department: finance, tags: [refund] }
`;

describe('rules engine: matching text the way customers write it', () => {
  it('matches a Simplified keyword in Traditional text and explains with the keyword as written', () => {
    const d = evaluate(rules(refund), mail({ subject: '請問如何退款？訂單 #123' }));
    expect(d.department).toBe('finance');
    expect(d.matched).toEqual([
      { rule: 'refund', explanation: 'subject contains "退款" → finance, +refund' },
    ]);
  });

  it('matches a Traditional keyword in Simplified text', () => {
    const set = rules(`
rules:
  - name: invoice
    when: { body: { contains: 發票 } }
    then: { department: finance }
`);
    expect(evaluate(set, mail({ text: '请给我开一张发票' })).department).toBe('finance');
  });

  it('folds case and full-width letters', () => {
    expect(evaluate(rules(refund), mail({ subject: 'ＲＥＦＵＮＤ please' })).department).toBe('finance');
    expect(evaluate(rules(refund), mail({ text: 'I want my MONEY   BACK' })).department).toBe(
      'customer_service',
    );
    expect(evaluate(rules(refund), mail({ text: 'I want my Money Back.' })).department).toBe('finance');
  });

  it('matches CJK keywords inside running text but Latin keywords only on word boundaries', () => {
    const set = rules(`
rules:
  - name: bill
    when: { any_text: { contains_any: [bill, 账单] } }
    then: { department: finance }
`);
    expect(evaluate(set, mail({ subject: 'We made a billion sales' })).department).toBe('customer_service');
    expect(evaluate(set, mail({ subject: 'rebill' })).department).toBe('customer_service');
    expect(evaluate(set, mail({ subject: 'Your bill, please' })).department).toBe('finance');
    expect(evaluate(set, mail({ subject: '關於上個月的賬單問題' })).department).toBe('finance');
    expect(evaluate(set, mail({ subject: '关于上个月的账单问题' })).department).toBe('finance');
    expect(evaluate(set, mail({ subject: '我的bill有问题' })).department).toBe('finance');
  });

  it('sends mail no rule sorts to the configured default department with normal urgency', () => {
    const d = evaluate(rules(refund, { defaultDepartment: 'sales' }), mail({ subject: 'hello' }));
    expect(d).toMatchObject({ department: 'sales', urgency: 'normal', tags: [], matched: [] });
    expect(d.explanation).toContain('department sales: no rule set a department, the configured default');
  });
});

describe('rules engine: deciding department and urgency', () => {
  const set = rules(`
rules:
  - name: complaint
    when: { any_text: { contains_any: [complaint, 投诉] } }
    then: { department: customer_service, tags: [complaint] }
  - name: refund
    when: { any_text: { contains_any: [refund] } }
    then: { department: finance, tags: [refund], copy_to: customer_service }
  - name: urgent-word
    when: { subject: { contains_any: [urgent, asap] } }
    then: { urgency: urgent }
  - name: legal
    priority: 10
    when: { any_text: { contains_any: [lawyer] } }
    then: { department: pr, urgency: urgent, assign: owner }
  - name: spam-stop
    when: { flag: bulk }
    then: { tags: [bulk], stop: true }
  - name: after-stop
    when: { any_text: { contains: newsletter } }
    then: { department: sales }
`);

  it('lets the first rule that sets the department win, and accumulates tags', () => {
    const d = evaluate(set, mail({ subject: 'Complaint and refund' }));
    expect(d.department).toBe('customer_service');
    expect(d.tags).toEqual(['complaint', 'refund']);
    expect(d.decidedBy.department).toBe('complaint');
  });

  it('decides urgency independently of department', () => {
    const d = evaluate(set, mail({ subject: 'URGENT: refund' }));
    expect(d).toMatchObject({ department: 'finance', urgency: 'urgent' });
  });

  it('lets a later rule with higher priority win', () => {
    const d = evaluate(set, mail({ subject: 'complaint', text: 'my lawyer will call' }));
    expect(d).toMatchObject({ department: 'pr', urgency: 'urgent', assign: 'owner' });
  });

  it('copies to a second department unless that is the chosen one', () => {
    expect(evaluate(set, mail({ subject: 'refund' })).copyTo).toEqual(['customer_service']);
    expect(evaluate(set, mail({ subject: 'complaint refund' })).copyTo).toBeUndefined();
  });

  it('stops at a rule with stop: no later rule runs', () => {
    const d = evaluate(set, mail({ subject: 'newsletter', flags: ['bulk'] }));
    expect(d.tags).toEqual(['bulk']);
    expect(d.department).toBe('customer_service');
    expect(evaluate(set, mail({ subject: 'newsletter' })).department).toBe('sales');
  });
});

describe('rules engine: conditions', () => {
  it('supports all, any, not, nested, and explains each part', () => {
    const set = rules(`
rules:
  - name: vip-order-problem
    when:
      all:
        - any:
            - subject: { contains: order }
            - subject: { contains: 订单 }
        - not: { from_domain: { equals: shop.example } }
        - customer.vip: true
    then: { urgency: urgent }
`);
    const customer = { segments: [], vip: true };
    const d = evaluate(set, mail({ subject: '訂單沒收到', customer }));
    expect(d.urgency).toBe('urgent');
    expect(d.matched[0]?.explanation).toBe(
      'subject contains "订单" and not (from_domain is "shop.example") and customer is VIP → urgent',
    );
    expect(evaluate(set, mail({ subject: 'order', from: 'a@shop.example', customer })).urgency).toBe(
      'normal',
    );
    expect(evaluate(set, mail({ subject: 'order' })).urgency).toBe('normal');
  });

  it('checks headers, attachments, size, flags, segments, contains_all, equals, matches and exists', () => {
    const set = rules(`
rules:
  - { name: h, when: { header.X-Priority: { equals: "1" } }, then: { tags: [h] } }
  - { name: a, when: { attachment: { contains_any: [pdf] } }, then: { tags: [a] } }
  - { name: s, when: { size: { gt: 5000 } }, then: { tags: [s] } }
  - { name: f, when: { flag: [bounce, auto_reply] }, then: { tags: [f] } }
  - { name: seg, when: { customer.segment: wholesale }, then: { tags: [seg] } }
  - { name: all, when: { body: { contains_all: [price, list] } }, then: { tags: [all] } }
  - { name: re, when: { subject: { matches: "order #?\\\\d{5}" } }, then: { tags: [re] } }
  - { name: ex, when: { header.List-Id: { exists: true } }, then: { tags: [ex] } }
  - { name: to, when: { to: { equals: [sales@shop.example] } }, then: { tags: [to] } }
`);
    const d = evaluate(
      set,
      mail({
        subject: 'Order ＃１２３４５',
        text: 'send the price list',
        headers: { 'x-priority': ['1'], 'list-id': ['<news.example>'] },
        attachments: [{ filename: 'quote.PDF', contentType: 'application/pdf', size: 10 }],
        size: 9000,
        flags: ['bounce'],
        to: ['Sales@Shop.example'],
        customer: { segments: ['wholesale'], vip: false },
      }),
    );
    expect(d.tags).toEqual(['h', 'a', 's', 'f', 'seg', 'all', 're', 'ex', 'to']);
    expect(d.matched.find((m) => m.rule === 're')?.explanation).toBe(
      'subject matches /order #?\\d{5}/ ("order #12345") → +re',
    );
    expect(evaluate(set, mail({ text: 'price only' })).tags).toEqual([]);
  });
});
