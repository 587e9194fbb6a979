import path from 'node:path';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { loadConfig, PROJECT_ROOT } from '../../src/config/index.ts';
import { ManualClock } from '../../src/lib/index.ts';
import {
  type AutoReplyMessage,
  autoReplyDecision,
  autoReplyVerdict,
  composeMail,
  createTemplateRenderer,
  getOutbox,
  sendAutoReply,
} from '../../src/outbound/index.ts';
import { tempDir } from '../harness/index.ts';
import { memoryDb, outboxDeps, seedConversation, settings } from './helpers.ts';

const H = 3_600_000;
const policy = {
  ownAddresses: ['support@shop.example', 'sales@shop.example'],
  domain: 'mr.shop.example',
  windowMs: 24 * H,
};
const now = Date.UTC(2026, 0, 5, 9);
const customer: AutoReplyMessage = { from: 'Alice <alice@customer.example>', flags: [] };

describe('auto-reply policy', () => {
  it('answers an ordinary customer message', () => {
    expect(autoReplyDecision(customer, policy, null, now)).toEqual({ send: true });
  });

  it.each([
    ['auto_reply', /machine/],
    ['bulk', /bulk/],
    ['bounce', /bounce/],
    ['loop', /loop/],
    ['noreply_sender', /does not take replies/],
    ['complaint', /complaint/],
  ])('never answers mail flagged %s', (flag, reason) => {
    const d = autoReplyDecision({ ...customer, flags: [flag] }, policy, null, now);
    expect(d.send).toBe(false);
    expect(d.send === false && d.reason).toMatch(reason);
  });

  it.each([
    ['auto-submitted', 'auto-replied'],
    ['precedence', 'bulk'],
    ['precedence', 'list'],
    ['list-id', 'News <news.example.com>'],
    ['x-loop', 'mr.shop.example'],
  ])('never answers mail whose %s header is %s, even when unflagged', (name, value) => {
    expect(autoReplyDecision({ ...customer, headers: { [name]: value } }, policy, null, now).send).toBe(
      false,
    );
  });

  it('answers Auto-Submitted: no (a person pressed send)', () => {
    expect(
      autoReplyDecision({ ...customer, headers: { 'auto-submitted': 'no' } }, policy, null, now).send,
    ).toBe(true);
  });

  it.each([
    'noreply@x.example',
    'no-reply@x.example',
    'do-not-reply@x.example',
    'MAILER-DAEMON@x.example',
    'postmaster@x.example',
    'bounces+123@x.example',
  ])('never answers %s', (from) => {
    expect(autoReplyDecision({ from, flags: [] }, policy, null, now).send).toBe(false);
  });

  it('never answers our own addresses', () => {
    const d = autoReplyDecision({ from: 'Sales <SALES@shop.example>', flags: [] }, policy, null, now);
    expect(d).toEqual({ send: false, reason: 'the sender is one of our own addresses' });
  });

  it('answers a sender at most once per window', () => {
    expect(autoReplyDecision(customer, policy, now - 23 * H, now).send).toBe(false);
    expect(autoReplyDecision(customer, policy, now - 25 * H, now).send).toBe(true);
  });

  it('the window is read from the outbox, per sender, with the configured length', async () => {
    const config = loadConfig({ env: { MAILROOM_MAIL_FROM: 'Shop <support@shop.example>' }, cwd: tempDir() });
    expect(config.mail.auto_reply_window_h).toBe(24);
    const clock = new ManualClock(now);
    const deps = outboxDeps(memoryDb(), clock);
    const renderer = createTemplateRenderer({
      dir: path.join(PROJECT_ROOT, 'templates'),
      globals: { shop: { name: 'Shop' } },
    });
    const ar = { ...deps, renderer, config };
    const first = seedConversation(deps.db, { email: 'alice@customer.example' });
    const r1 = await sendAutoReply(ar, {
      messageId: first.messageRowId,
      template: 'acknowledgement',
      data: { expected_answer_at: now + 24 * H },
    });
    expect(r1.sent).toBe(true);
    const row = r1.sent ? getOutbox(deps.db, r1.mail.outboxId) : undefined;
    expect(row).toMatchObject({ automatic: 'auto-replied', kind: 'acknowledgement', status: 'queued' });
    expect(row?.raw.toString()).toContain('Auto-Submitted: auto-replied');

    clock.advance(2 * H);
    const second = seedConversation(deps.db, {
      email: 'alice@customer.example',
      messageId: 'second@customer.example',
    });
    const r2 = await sendAutoReply(ar, {
      messageId: second.messageRowId,
      template: 'acknowledgement',
      data: { expected_answer_at: now },
    });
    expect(r2).toEqual({
      sent: false,
      reason: 'the sender was already answered automatically within the window',
    });
    const other = seedConversation(deps.db, {
      email: 'bob@customer.example',
      messageId: 'bob@customer.example',
    });
    expect((await sendAutoReply(ar, { messageId: other.messageRowId, template: 'thank-you' })).sent).toBe(
      true,
    );

    clock.advance(23 * H);
    expect(
      autoReplyVerdict(deps.db, config, clock.now(), { from: 'alice@customer.example', flags: [] }),
    ).toEqual({
      send: true,
    });
    const flagged = seedConversation(deps.db, {
      email: 'carol@customer.example',
      messageId: 'ooo@customer.example',
      flags: ['auto_reply'],
    });
    expect(
      (await sendAutoReply(ar, { messageId: flagged.messageRowId, template: 'acknowledgement' })).sent,
    ).toBe(false);
  });

  it('two mailroom instances acknowledging each other do not loop', async () => {
    // Shop A's support address writes to shop B, and both run mailroom with auto-acknowledgements.
    const a = { ...settings, domain: 'mr.a.example', from: 'A <support@a.example>' };
    const b = { ...settings, domain: 'mr.b.example', from: 'B <support@b.example>' };
    const policyOf = (s: typeof a) => ({ ownAddresses: [s.from], domain: s.domain, windowMs: 24 * H });
    const seen = { a: new Map<string, number>(), b: new Map<string, number>() };
    let inFlight: { to: 'a' | 'b'; raw: Buffer } | null = {
      to: 'b',
      raw: (
        await composeMail(a, {
          to: 'support@b.example',
          subject: 'Question',
          html: '<p>Hi</p>',
          text: 'Hi\n',
        })
      ).raw,
    };
    let acks = 0;
    for (let round = 0; round < 10 && inFlight; round++) {
      const me: 'a' | 'b' = inFlight.to;
      const mine = me === 'a' ? a : b;
      const p = await simpleParser(inFlight.raw);
      const headers = Object.fromEntries(
        p.headerLines.map((h) => [h.key, h.line.slice(h.line.indexOf(':') + 1).trim()]),
      );
      const from = p.from?.value[0]?.address ?? '';
      const d = autoReplyDecision(
        { from, flags: [], headers },
        policyOf(mine),
        seen[me].get(from) ?? null,
        now + round,
      );
      inFlight = null;
      if (d.send) {
        acks += 1;
        seen[me].set(from, now + round);
        const reply = await composeMail(mine, {
          to: from,
          subject: `Re: ${p.subject}`,
          html: '<p>ack</p>',
          text: 'ack\n',
          automatic: 'auto-replied',
        });
        inFlight = { to: me === 'a' ? 'b' : 'a', raw: reply.raw };
      }
    }
    expect(acks).toBe(1);
    expect(inFlight).toBeNull();
  });
});
