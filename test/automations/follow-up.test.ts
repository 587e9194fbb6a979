import { describe, expect, it } from 'vitest';
import { recordContact } from '../../src/customers/index.ts';
import type { Db } from '../../src/store/index.ts';
import { ClockQueue } from './clock-queue.ts';
import { buildAutomations, DAY } from './setup.ts';

function setup(config = {}) {
  let q: ClockQueue | undefined;
  const built = buildAutomations({
    queue: (clock) => {
      q = new ClockQueue(clock);
      return q;
    },
    config,
  });
  return { ...built, queue: q as ClockQueue };
}

let seq = 0;
function message(db: Db, conversationId: number, direction: 'in' | 'out', at: number) {
  seq++;
  db.prepare(
    `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, subject, received_at)
     VALUES (?, ?, ?, ?, 'Re: tea order', ?)`,
  ).run(conversationId, direction, `m${seq}@test`, `k${seq}`, at);
  if (direction === 'in')
    db.prepare('UPDATE conversations SET last_inbound_at = ? WHERE id = ?').run(at, conversationId);
}

function conversation(db: Db, at: number, department = 'sales'): number {
  const c = recordContact(db, { email: 'mei@customer.example', name: 'Mei', timeZone: 'UTC' }, at);
  const res = db
    .prepare(
      `INSERT INTO conversations (customer_id, subject, department, status, created_at, last_message_at)
       VALUES (?, 'tea order', ?, 'waiting', ?, ?)`,
    )
    .run(c?.id, department, at, at);
  const id = Number(res.lastInsertRowid);
  message(db, id, 'in', at);
  message(db, id, 'out', at + 3600_000);
  return id;
}

describe('follow-ups', () => {
  it('writes once when the customer has not answered our mail within 2 days', async () => {
    const { db, clock, automations, queue, sent } = setup();
    await automations.start();
    const id = conversation(db, clock.now());
    await queue.advance(1 * DAY);
    expect(await automations.scanFollowUps()).toBe(0);
    await queue.advance(1 * DAY + 3600_000);
    expect(await automations.scanFollowUps()).toBe(1);
    await queue.drain();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      template: 'follow-up',
      to: 'mei@customer.example',
      conversationId: id,
      data: { conversation: { id, subject: 'tea order' } },
    });
    await queue.advance(5 * DAY);
    expect(await automations.scanFollowUps()).toBe(0);
    expect(sent).toHaveLength(1);
  });

  it('does not follow up when the customer answered in time', async () => {
    const { db, clock, automations, queue, sent } = setup();
    await automations.start();
    const id = conversation(db, clock.now());
    message(db, id, 'in', clock.now() + DAY);
    await queue.advance(3 * DAY);
    expect(await automations.scanFollowUps()).toBe(0);
    expect(sent).toHaveLength(0);
  });

  it('skips at run time when the customer answers after the follow-up was scheduled', async () => {
    const { db, clock, automations, queue, sent } = setup({ quiet_hours: null });
    await automations.start();
    const id = conversation(db, clock.now());
    await queue.advance(2 * DAY + 3600_000);
    expect(await automations.scanFollowUps()).toBe(1);
    // The answer arrives between the scan and the worker picking the job up.
    message(db, id, 'in', clock.now());
    clock.advance(1);
    await queue.drain();
    expect(sent).toHaveLength(0);
    expect(db.prepare("SELECT status, reason FROM automation_steps WHERE step = 'follow_up'").get()).toEqual({
      status: 'skipped',
      reason: 'customer answered',
    });
  });

  it('creates a staff task instead of mail for a configured department', async () => {
    const { db, clock, automations, queue, sent } = setup({ follow_up: { task_departments: ['sales'] } });
    await automations.start();
    const id = conversation(db, clock.now(), 'sales');
    await queue.advance(2 * DAY + 3600_000);
    await automations.scanFollowUps();
    await queue.drain();
    expect(sent).toHaveLength(0);
    const tasks = db.prepare('SELECT kind, title, conversation_id, status FROM tasks').all();
    expect(tasks).toEqual([
      {
        kind: 'follow_up',
        title: 'Call the customer: no answer to "tea order" for 2 days',
        conversation_id: id,
        status: 'open',
      },
    ]);
  });
});
