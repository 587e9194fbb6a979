import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import {
  addSuppression,
  createSendHandler,
  createSmtpTransport,
  createTemplateRenderer,
  getOutbox,
  queueListMail,
  queueTemplateMail,
  type SmtpSender,
} from '../../src/outbound/index.ts';
import { type SmtpPeer, startSmtpPeer } from '../harness/index.ts';
import { headerLines, jobFor, outboxDeps, parse } from './helpers.ts';

let peer: SmtpPeer;
let transport: SmtpSender;
beforeEach(async () => {
  peer = await startSmtpPeer();
  transport = createSmtpTransport({
    smtp: {
      host: peer.host,
      port: peer.port,
      tls: 'none',
      max_connections: 2,
      timeout_s: 10,
      rate_per_second: 10,
    },
    logger: silentLogger(),
  });
});
afterEach(async () => {
  transport.close();
  await peer.close();
});

const renderer = createTemplateRenderer({
  dir: path.join(PROJECT_ROOT, 'templates'),
  publicUrl: 'https://shop.example',
  globals: { shop: { name: 'Lotus Tea House' } },
});

describe('template and list mail through the outbox', () => {
  it('an order confirmation in the customer’s locale arrives auto-generated, once per key', async () => {
    const deps = { ...outboxDeps(), renderer };
    const sample = renderer.sample('order-confirmation', 'zh-TW');
    const input = {
      idempotencyKey: 'order-7-confirmation',
      template: 'order_confirmation',
      locale: 'zh-HK',
      to: 'lin@customer.example',
      toName: '林美玲',
      data: sample,
    };
    const q = await queueTemplateMail(deps, input);
    expect((await queueTemplateMail(deps, input)).created).toBe(false);
    const send = createSendHandler({ ...deps, transport });
    await send(jobFor({ outboxId: q.outboxId, messageId: q.messageId, envelope: { from: '', to: [] } }));
    const [rec] = await peer.waitFor(1);
    const p = await parse(rec?.raw ?? '');
    expect(p.subject).toBe('訂單確認：A-20260105-017');
    expect(p.headers.get('auto-submitted')).toBe('auto-generated');
    expect(p.to && !Array.isArray(p.to) ? p.to.value[0] : undefined).toEqual({
      name: '林美玲',
      address: 'lin@customer.example',
    });
    expect(getOutbox(deps.db, q.outboxId)).toMatchObject({ kind: 'order-confirmation', status: 'sent' });
  });

  it('list mail keeps its List-* headers and VERP sender; a suppressed address gets no marketing mail', async () => {
    const deps = outboxDeps();
    const q = await queueListMail(deps, {
      to: 'reader@example.com',
      subject: 'Spring harvest',
      html: '<p>news</p><p><a href="https://shop.example/u/t">Unsubscribe</a></p>',
      text: 'news\n',
      headers: {
        'List-Unsubscribe': '<https://shop.example/u/t>',
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        'List-Id': 'Tea notes <tea-notes.mr.shop.example>',
        Precedence: 'bulk',
      },
      envelopeFrom: 'bounce+t@mr.shop.example',
      idempotencyKey: 'campaign-send-1',
    });
    const send = createSendHandler({ ...deps, transport });
    await send(jobFor({ outboxId: q.outboxId, messageId: q.messageId, envelope: { from: '', to: [] } }));
    const [rec] = await peer.waitFor(1);
    expect(rec?.from).toBe('bounce+t@mr.shop.example');
    const lines = headerLines(rec?.raw ?? '');
    expect(lines).toContain('List-Unsubscribe: <https://shop.example/u/t>');
    expect(lines).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
    expect(lines).toContain('Precedence: bulk');

    addSuppression(deps.db, { address: 'left@example.com', reason: 'unsubscribed', source: 'test', at: 1 });
    const list = await queueListMail(deps, {
      to: 'left@example.com',
      subject: 's',
      html: '<p>x</p>',
      text: 'x\n',
      headers: {},
      idempotencyKey: 'campaign-send-2',
    });
    expect(list.status).toBe('suppressed');
    // An unsubscribe stops marketing only: the order confirmation still goes.
    const order = await queueTemplateMail(
      { ...deps, renderer },
      {
        idempotencyKey: 'o-9',
        template: 'thank-you',
        locale: 'en',
        to: 'left@example.com',
        data: renderer.sample('thank-you', 'en'),
      },
    );
    expect(order.status).toBe('queued');
  });

  it('the transport keeps to smtp.rate_per_second', async () => {
    const deps = outboxDeps();
    const send = createSendHandler({ ...deps, transport });
    const ids = [];
    for (let i = 0; i < 6; i++) {
      const q = await queueListMail(deps, {
        to: `r${i}@example.com`,
        subject: 's',
        html: '<p>x</p>',
        text: 'x\n',
        headers: {},
        idempotencyKey: `rate-${i}`,
      });
      ids.push(q);
    }
    const t0 = Date.now();
    await Promise.all(
      ids.map((q) =>
        send(jobFor({ outboxId: q.outboxId, messageId: q.messageId, envelope: { from: '', to: [] } })),
      ),
    );
    const got = await peer.waitFor(6);
    const times = got.map((g) => g.receivedAt).sort((a, b) => a - b);
    // 10 per second: the sixth mail may not start before five intervals of 100 ms have passed.
    expect((times[5] ?? 0) - t0).toBeGreaterThanOrEqual(500);
  });
});
