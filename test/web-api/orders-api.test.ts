import { createHmac } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createOrderIntake } from '../../src/automations/index.ts';
import { findCustomerByEmail, getOrderByExternalId } from '../../src/customers/index.ts';
import { ManualClock, silentLogger } from '../../src/lib/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';
import { ordersApi, signRequest, stringToSign } from '../../src/web/api/index.ts';

const KEY = 'test-api-key-0123456789';
const SECRET = 'test-signing-secret';

const order = {
  id: 'SO-1001',
  email: 'Li.Wei@Example.com',
  name: '李伟',
  locale: 'zh-CN',
  currency: 'CNY',
  amount_cents: 12800,
  items: [{ sku: 'TEA-1', name: '龙井茶', quantity: 2, unit_cents: 6400 }],
  payment_instructions: 'Bank transfer to 6222 0000 1234',
  shipping_terms: 'SF Express, 3-5 days',
};

describe('order API', () => {
  let db: Db;
  let clock: ManualClock;
  let app: FastifyInstance;

  beforeEach(async () => {
    db = openDatabase(':memory:');
    migrate(db);
    clock = new ManualClock();
    app = Fastify();
    await app.register(
      ordersApi({
        intake: createOrderIntake({ db, clock, automations: null }),
        clock,
        logger: silentLogger(),
        apiKey: KEY,
        signingSecret: SECRET,
      }),
    );
  });
  afterEach(async () => {
    await app.close();
    db.close();
  });

  function post(url: string, body: unknown, opts: { ts?: number; sig?: string; key?: string } = {}) {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const ts = opts.ts ?? Math.floor(clock.now() / 1000);
    return app.inject({
      method: 'POST',
      url,
      payload: raw,
      headers: {
        'content-type': 'application/json',
        'x-api-key': opts.key ?? KEY,
        'x-mailroom-timestamp': String(ts),
        'x-mailroom-signature':
          opts.sig ?? signRequest(SECRET, { timestamp: ts, method: 'POST', path: url, rawBody: raw }),
      },
    });
  }

  it('creates an order and its customer on first contact, then updates it', async () => {
    const res = await post('/api/orders', order);
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      created: true,
      order: { id: 'SO-1001', status: 'pending', amount_cents: 12800 },
    });
    const customer = findCustomerByEmail(db, 'li.wei@example.com');
    expect(customer).toMatchObject({ name: '李伟', locale: 'zh-CN', order_count: 1, total_cents: 0 });

    const again = await post('/api/orders', { ...order, amount_cents: 13000 });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ created: false, order: { amount_cents: 13000 } });
  });

  it('accepts the same event id once and counts the order total once', async () => {
    await post('/api/orders', order);
    const ev = { event_id: 'evt-1', type: 'paid', at: '2026-01-05T10:00:00Z' };
    const first = await post('/api/orders/SO-1001/events', ev);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ applied: true, order: { status: 'paid' } });
    clock.advance(60_000);
    const replay = await post('/api/orders/SO-1001/events', ev);
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toMatchObject({ applied: false, duplicate: true, order: { status: 'paid' } });
    expect(db.prepare('SELECT count(*) AS n FROM order_events').get()).toEqual({ n: 1 });
    expect(findCustomerByEmail(db, 'li.wei@example.com')).toMatchObject({
      order_count: 1,
      total_cents: 12800,
    });
  });

  it('refuses a bad signature, a wrong key and a body changed after signing', async () => {
    const bad = await post('/api/orders', order, { sig: `sha256=${'0'.repeat(64)}` });
    expect(bad.statusCode).toBe(401);
    expect(bad.json().error.code).toBe('SIGNATURE_INVALID');

    const wrongKey = await post('/api/orders', order, { key: 'nope' });
    expect(wrongKey.statusCode).toBe(401);
    expect(wrongKey.json().error.code).toBe('TOKEN_INVALID');

    const ts = Math.floor(clock.now() / 1000);
    const tampered = await post(
      '/api/orders',
      { ...order, amount_cents: 1 },
      {
        ts,
        sig: signRequest(SECRET, {
          timestamp: ts,
          method: 'POST',
          path: '/api/orders',
          rawBody: JSON.stringify(order),
        }),
      },
    );
    expect(tampered.statusCode).toBe(401);
    expect(getOrderByExternalId(db, 'SO-1001')).toBeUndefined();
  });

  it('accepts a signature made the documented way, with nothing but an HMAC library', async () => {
    // What the README tells shops: HMAC-SHA256 over "<timestamp>\n<METHOD>\n<path>\n<raw body>".
    const ts = Math.floor(clock.now() / 1000);
    const raw = JSON.stringify(order);
    const text = `${ts}\nPOST\n/api/orders\n${raw}`;
    expect(stringToSign({ timestamp: ts, method: 'post', path: '/api/orders', rawBody: raw })).toBe(text);
    const sig = `sha256=${createHmac('sha256', SECRET).update(text, 'utf8').digest('hex')}`;
    expect((await post('/api/orders', order, { ts, sig })).statusCode).toBe(201);
    // The same signature is refused for the events endpoint of that order.
    const moved = await post('/api/orders/SO-1001/events', order, { ts, sig });
    expect(moved.statusCode).toBe(401);
    expect(moved.json().error.code).toBe('SIGNATURE_INVALID');
  });

  it('refuses a timestamp outside the 5-minute window, so a captured request cannot be replayed later', async () => {
    const old = Math.floor(clock.now() / 1000) - 301;
    const res = await post('/api/orders', order, { ts: old });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toMatchObject({ code: 'TOKEN_EXPIRED' });
    expect(res.json().error.message).toContain('301 s');
    const fine = await post('/api/orders', order, { ts: old + 2 });
    expect(fine.statusCode).toBe(201);
  });

  it('says which field is wrong and what was expected', async () => {
    const res = await post('/api/orders', {
      ...order,
      currency: 'yuan',
      time_zone: 'Mars/Olympus',
      items: [{ name: 'tea', quantity: 0, unit_cents: 100 }],
      colour: 'red',
    });
    expect(res.statusCode).toBe(400);
    const { error } = res.json();
    expect(error.code).toBe('VALIDATION');
    expect(error.issues).toEqual(
      expect.arrayContaining([
        { path: 'currency', message: 'expected a currency code such as CNY' },
        { path: 'time_zone', message: 'expected an IANA time zone such as Asia/Shanghai' },
        { path: 'items[0].quantity', message: 'expected a whole number > 0' },
        { path: '(body)', message: 'unknown field(s): colour' },
      ]),
    );
    const notJson = await post('/api/orders', '{"id": ');
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().error.message).toContain('not JSON');
  });

  it('answers 404 for an unknown order and 409 for an impossible transition', async () => {
    const missing = await post('/api/orders/NOPE/events', { event_id: 'e1', type: 'paid' });
    expect(missing.statusCode).toBe(404);
    await post('/api/orders', order);
    await post('/api/orders/SO-1001/events', { event_id: 'e2', type: 'cancelled' });
    const late = await post('/api/orders/SO-1001/events', { event_id: 'e3', type: 'paid' });
    expect(late.statusCode).toBe(409);
    expect(late.json().error.message).toContain('cancelled');
  });

  it('is off with 503 when no API key is configured', async () => {
    const off = Fastify();
    await off.register(
      ordersApi({
        intake: createOrderIntake({ db, clock, automations: null }),
        clock,
        logger: silentLogger(),
        apiKey: undefined,
      }),
    );
    const res = await off.inject({ method: 'POST', url: '/api/orders', payload: order });
    expect(res.statusCode).toBe(503);
    await off.close();
  });
});
