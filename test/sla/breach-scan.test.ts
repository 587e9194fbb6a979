import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/index.ts';
import {
  getClock,
  onInbound,
  onStaffReply,
  onUrgencyChange,
  onWaitingOnCustomer,
  type SlaNotice,
  scanSla,
} from '../../src/sla/index.ts';
import { inTransaction } from '../../src/store/index.ts';
import { tempDir } from '../harness/index.ts';
import { H, migratedDb, newConversation, slaPolicy } from './helpers.ts';

const T = Date.UTC(2026, 0, 5, 1, 0);
const config = { mail: { departments: { sales: { escalation: 'sales-lead@shop.example' } } } };

describe('SLA clock storage', () => {
  it("stores the clock with due and warning times inside the caller's transaction", () => {
    const db = migratedDb();
    const policy = slaPolicy();
    const id = newConversation(db);
    inTransaction(db, () => onInbound(db, policy, id, T, 'normal', 'sales'));
    expect(getClock(db, id)).toMatchObject({
      state: 'running',
      kind: 'first',
      due_at: T + 24 * H,
      warn_at: T + 19.2 * H,
      policy_key: 'normal',
      department: 'sales',
      first_started_at: T,
    });
    onUrgencyChange(db, policy, id, T + H, 'urgent');
    expect(getClock(db, id)).toMatchObject({ due_at: T + 4 * H, urgency: 'urgent', policy_key: 'urgent' });
    onWaitingOnCustomer(db, policy, id, T + 2 * H);
    expect(getClock(db, id)).toMatchObject({ state: 'paused', due_at: null, paused_at: T + 2 * H });
    onStaffReply(db, policy, id, T + 3 * H);
    expect(getClock(db, id)).toMatchObject({ state: 'met', first_response_at: T + 3 * H });
    expect(getClock(db, newConversation(db))).toBeNull();
  });
});

describe('SLA breach scanner', () => {
  function setup(file?: string) {
    const db = migratedDb(file);
    const clock = new ManualClock(T);
    const sent: SlaNotice[] = [];
    const scan = () => scanSla({ db, clock, config, notify: (n) => void sent.push(n) });
    return { db, clock, sent, scan };
  }

  it('warns once when the warning window opens and reports the breach once', async () => {
    const { db, clock, sent, scan } = setup();
    const policy = slaPolicy();
    const id = newConversation(db);
    onInbound(db, policy, id, T, 'normal', 'sales');

    clock.set(T + 19.2 * H - 1);
    await scan();
    expect(sent).toHaveLength(0);

    clock.set(T + 19.2 * H);
    await scan();
    await scan();
    expect(sent).toEqual([
      {
        conversationId: id,
        stage: 'warning',
        department: 'sales',
        urgency: 'normal',
        dueAt: T + 24 * H,
        generation: 1,
        escalationTo: 'sales-lead@shop.example',
        key: `sla-${id}-1-warning`,
      },
    ]);
    expect(getClock(db, id)?.sla_stage).toBe('warning');

    clock.set(T + 24 * H); // exactly at the deadline: still on time
    await scan();
    expect(sent).toHaveLength(1);

    clock.set(T + 24 * H + 1000);
    await scan();
    await scan();
    expect(sent.map((n) => n.stage)).toEqual(['warning', 'breach']);
    expect(getClock(db, id)).toMatchObject({ state: 'breached', sla_stage: 'breach' });
  });

  it('does not notify again after a restart (new scanner on the same database file)', async () => {
    const file = path.join(tempDir(), 'mailroom.sqlite');
    const first = setup(file);
    const policy = slaPolicy();
    const id = newConversation(first.db);
    onInbound(first.db, policy, id, T, 'urgent', 'sales');
    first.clock.set(T + 5 * H);
    await first.scan();
    expect(first.sent.map((n) => n.stage)).toEqual(['breach']);
    first.db.close();

    const second = setup(file);
    second.clock.set(T + 6 * H);
    await second.scan();
    expect(second.sent).toHaveLength(0);
    second.db.close();
  });

  it('a scanner that died while notifying leaves the notice to the next scanner, which sends it once', async () => {
    const file = path.join(tempDir(), 'mailroom.sqlite');
    const first = setup(file);
    const policy = slaPolicy();
    const id = newConversation(first.db);
    onInbound(first.db, policy, id, T, 'urgent', 'sales');
    first.clock.set(T + 3.5 * H);
    // The claim is committed before notify runs; notify never returns, as if the process died.
    void scanSla({ db: first.db, clock: first.clock, config, notify: () => new Promise<void>(() => {}) });
    first.db.close();

    const second = setup(file);
    second.clock.set(T + 3.5 * H + 60_000);
    await second.scan();
    expect(second.sent).toHaveLength(0); // another scanner may still be sending it
    second.clock.set(T + 3.5 * H + 6 * 60_000);
    await second.scan();
    await second.scan();
    expect(second.sent.map((n) => [n.conversationId, n.stage])).toEqual([[id, 'warning']]);
    second.db.close();
  });

  it('an urgency flip-flop does not send the same warning twice', async () => {
    const { db, clock, sent, scan } = setup();
    const policy = slaPolicy();
    const id = newConversation(db);
    onInbound(db, policy, id, T, 'urgent', 'sales');
    clock.set(T + 3.5 * H);
    await scan();
    onUrgencyChange(db, policy, id, T + 3.6 * H, 'normal');
    expect(getClock(db, id)?.sla_stage).toBeNull();
    onUrgencyChange(db, policy, id, T + 3.7 * H, 'urgent');
    clock.set(T + 3.8 * H);
    await scan();
    expect(sent.map((n) => n.stage)).toEqual(['warning']);
    expect(getClock(db, id)?.sla_stage).toBe('warning');
  });

  it('retries a notification whose sending failed, and then sends it once', async () => {
    const { db, clock } = setup();
    const policy = slaPolicy();
    const id = newConversation(db, 'finance');
    onInbound(db, policy, id, T, 'urgent', 'finance');
    clock.set(T + 3.5 * H);
    const sent: SlaNotice[] = [];
    let fail = true;
    const notify = (n: SlaNotice) => {
      if (fail) throw new Error('queue unavailable');
      sent.push(n);
    };
    expect(await scanSla({ db, clock, config, notify })).toMatchObject({ warnings: 1, failed: 1 });
    fail = false;
    expect(await scanSla({ db, clock, config, notify })).toMatchObject({ warnings: 0, notified: 1 });
    await scanSla({ db, clock, config, notify });
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ stage: 'warning', escalationTo: null });
  });

  it('never notifies a clock that was answered, paused, or started again', async () => {
    const { db, clock, sent, scan } = setup();
    const policy = slaPolicy();
    const answered = newConversation(db);
    const waiting = newConversation(db);
    onInbound(db, policy, answered, T, 'urgent', 'sales');
    onStaffReply(db, policy, answered, T + H);
    onInbound(db, policy, waiting, T, 'urgent', 'sales');
    onWaitingOnCustomer(db, policy, waiting, T + H);
    clock.set(T + 100 * H);
    await scan();
    expect(sent).toHaveLength(0);

    // A new customer message after the answer starts a new clock, notified on its own.
    onInbound(db, policy, answered, T + 100 * H, 'urgent', 'sales');
    clock.set(T + 105 * H);
    await scan();
    expect(sent.map((n) => [n.conversationId, n.generation, n.stage])).toEqual([[answered, 2, 'breach']]);
  });

  it('marks long-past breaches (imported history) in the inbox without mailing them', async () => {
    const { db, clock, sent, scan } = setup();
    const policy = slaPolicy();
    const old = newConversation(db);
    const fresh = newConversation(db);
    onInbound(db, policy, old, T - 30 * 24 * H, 'normal', 'sales');
    onInbound(db, policy, fresh, T - 2 * 24 * H, 'normal', 'sales');
    clock.set(T);
    expect(await scan()).toMatchObject({ breaches: 2, notified: 1 });
    expect(sent.map((n) => n.conversationId)).toEqual([fresh]);
    expect(getClock(db, old)).toMatchObject({ state: 'breached', sla_stage: 'breach' });
    await scan();
    expect(sent).toHaveLength(1);
  });

  it('an automatic acknowledgement does not keep the breach notice away', async () => {
    const { db, clock, sent, scan } = setup();
    const policy = slaPolicy();
    const id = newConversation(db);
    onInbound(db, policy, id, T, 'urgent', 'sales');
    onStaffReply(db, policy, id, T + 60_000, { automatic: true });
    clock.set(T + 4 * H + 1000);
    await scan();
    expect(sent.map((n) => n.stage)).toEqual(['breach']);
  });
});
