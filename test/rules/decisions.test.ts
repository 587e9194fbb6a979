import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  compileRules,
  evaluate,
  getDecision,
  mostOverriddenRules,
  recordCorrection,
  replay,
  saveDecision,
} from '../../src/rules/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';
import { mail } from './helpers.ts';

const set = compileRules([
  {
    file: 'r.yaml',
    text: `rules:
  - { name: refund, when: { any_text: { contains_any: [refund, 退款] } }, then: { department: finance, tags: [refund] } }
  - { name: price, when: { any_text: { contains_any: [price] } }, then: { department: sales } }
  - { name: asap, when: { subject: { contains: asap } }, then: { urgency: urgent } }
`,
  },
]);

let db: Db;
let seq = 0;
beforeEach(() => {
  db = openDatabase(':memory:');
  migrate(db);
});
afterEach(() => db.close());

function storeMessage(
  subject: string,
  at: number,
  department = 'customer_service',
): { msg: number; conv: number } {
  const conv = Number(
    db
      .prepare(
        'INSERT INTO conversations (subject, department, created_at, last_message_at) VALUES (?, ?, ?, ?)',
      )
      .run(subject, department, at, at).lastInsertRowid,
  );
  seq += 1;
  const msg = Number(
    db
      .prepare(
        `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, from_addr, subject, text_body, received_at)
         VALUES (?, 'in', ?, ?, 'c@example.com', ?, '', ?)`,
      )
      .run(conv, `m${seq}@x`, `k${seq}`, subject, at).lastInsertRowid,
  );
  return { msg, conv };
}

describe('stored decisions and staff corrections', () => {
  it('stores each decision with its rules and explanation', () => {
    const { msg, conv } = storeMessage('退款', 1000);
    saveDecision(db, {
      messageId: msg,
      conversationId: conv,
      decision: evaluate(set, mail({ subject: '退款' })),
      at: 1000,
    });
    expect(getDecision(db, msg)).toMatchObject({
      department: 'finance',
      urgency: 'normal',
      tags: ['refund'],
      rules: ['refund'],
      departmentRule: 'refund',
      urgencyRule: null,
      explanation: expect.arrayContaining(['refund: subject contains "退款" → finance, +refund']),
    });
  });

  it('reports the rules staff override most, blaming the default when no rule decided', () => {
    const moves: Array<[string, string]> = [
      ['refund please', 'customer_service'],
      ['refund now', 'customer_service'],
      ['price list', 'finance'],
      ['hello', 'hr'],
    ];
    moves.forEach(([subject, to], i) => {
      const { msg, conv } = storeMessage(subject, 1000 + i);
      const d = evaluate(set, mail({ subject }));
      saveDecision(db, { messageId: msg, conversationId: conv, decision: d, at: 1000 + i });
      recordCorrection(db, {
        conversationId: conv,
        field: 'department',
        oldValue: d.department,
        newValue: to,
        user: 'amy',
        at: 2000 + i,
      });
    });
    const report = mostOverriddenRules(db);
    expect(report[0]).toMatchObject({
      rule: 'refund',
      field: 'department',
      corrections: 2,
      usualChange: 'finance -> customer_service',
    });
    expect(report.map((r) => r.rule).sort()).toEqual(['(default)', 'price', 'refund']);
    expect(mostOverriddenRules(db, { since: 2003 }).map((r) => r.rule)).toEqual(['(default)']);
  });
});

describe('rules replay', () => {
  it('lists what the current rules would change on stored mail, without changing anything', () => {
    const a = storeMessage('refund for order 1', 1000);
    saveDecision(db, {
      messageId: a.msg,
      conversationId: a.conv,
      decision: evaluate(set, mail({ subject: 'x' })),
      at: 1000,
    });
    const b = storeMessage('price asap', 2000, 'sales');
    const c = storeMessage('old refund', 10, 'customer_service');
    const res = replay(db, set, { since: 500 });
    expect(res.examined).toBe(2);
    expect(
      res.changes.map((x) => [x.messageId, x.before.department, x.after.department, x.after.urgency]),
    ).toEqual([
      [a.msg, 'customer_service', 'finance', 'normal'],
      [b.msg, 'sales', 'sales', 'urgent'],
    ]);
    expect(getDecision(db, a.msg)?.department).toBe('customer_service');
    expect(getDecision(db, c.msg)).toBeNull();
  });
});
