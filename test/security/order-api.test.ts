import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPLAY_WINDOW_MS, signRequest } from '../../src/web/api/index.ts';
import { API_KEY, dbFingerprint, type FullApp, startFullApp } from './helpers.ts';

/**
 * The order API as the running app serves it (API key + HMAC over
 * "<timestamp>\n<METHOD>\n<path>\n<raw body>").
 * test/web-api/orders-api.test.ts already refuses an all-zero signature, a wrong key, a body changed
 * after signing and a timestamp 301 s old; this file adds the cases around them: the future side of
 * the window, malformed and missing headers, a fresh timestamp on an old signature, a signature
 * replayed against another order or endpoint, and that nothing unsigned is parsed or stored.
 */

let f: FullApp;
const order = { id: 'SO-2001', email: 'buyer@example.com', currency: 'EUR', amount_cents: 5000 };

const nowS = () => Math.floor(f.clock.now() / 1000);

function send(
  url: string,
  raw: string,
  headers: { key?: string | null; ts?: string | null; sig?: string | null } = {},
) {
  const ts = headers.ts === undefined ? String(nowS()) : headers.ts;
  const h: Record<string, string> = { 'content-type': 'application/json' };
  const key = headers.key === undefined ? API_KEY : headers.key;
  if (key !== null) h['x-api-key'] = key;
  if (ts !== null) h['x-mailroom-timestamp'] = ts;
  const sig = headers.sig === undefined ? sign(API_KEY, ts ?? '', url, raw) : headers.sig;
  if (sig !== null) h['x-mailroom-signature'] = sig;
  return f.web.inject({ method: 'POST', url, headers: h, payload: raw });
}

/** A signature as a shop's client makes it, for a POST to `path`. */
const sign = (secret: string, ts: string, path: string, raw: string) =>
  signRequest(secret, { timestamp: ts, method: 'POST', path, rawBody: raw });

beforeAll(async () => {
  f = await startFullApp();
  for (const id of ['SO-1', 'SO-2']) {
    const res = await send('/api/orders', JSON.stringify({ ...order, id }));
    expect(res.statusCode).toBe(201);
  }
});

afterAll(async () => {
  await f?.close();
});

describe('order API signatures and timestamps', () => {
  it('refuses timestamps outside the window on either side, and accepts its edges', async () => {
    const raw = JSON.stringify(order);
    const windowS = REPLAY_WINDOW_MS / 1000;
    const before = dbFingerprint(f.db);
    for (const ts of [nowS() + windowS + 1, nowS() - windowS - 1, nowS() + 86_400, 0]) {
      const res = await send('/api/orders', raw, { ts: String(ts) });
      expect(res.statusCode, `timestamp ${ts}`).toBe(401);
      expect(res.json().error.code).toBe('TOKEN_EXPIRED');
    }
    expect(dbFingerprint(f.db)).toBe(before);
    expect(
      (
        await send('/api/orders', JSON.stringify({ ...order, id: 'SO-early' }), {
          ts: String(nowS() - windowS),
        })
      ).statusCode,
    ).toBe(201);
    expect(
      (
        await send('/api/orders', JSON.stringify({ ...order, id: 'SO-late' }), {
          ts: String(nowS() + windowS),
        })
      ).statusCode,
    ).toBe(201);
  });

  it('refuses missing and malformed timestamp, key and signature headers', async () => {
    const raw = JSON.stringify({ ...order, id: 'SO-3001' });
    const ts = String(nowS());
    const good = sign(API_KEY, ts, '/api/orders', raw);
    const hmac = (s: string) => `sha256=${createHmac('sha256', API_KEY).update(s).digest('hex')}`;
    const cases: Array<[string, Parameters<typeof send>[2], string]> = [
      ['no timestamp', { ts: null, sig: good }, 'TOKEN_EXPIRED'],
      ['empty timestamp', { ts: '', sig: good }, 'TOKEN_EXPIRED'],
      ['timestamp in milliseconds', { ts: String(f.clock.now()) }, 'TOKEN_EXPIRED'],
      ['timestamp with a sign', { ts: `+${ts}` }, 'TOKEN_EXPIRED'],
      ['timestamp as a float', { ts: `${ts}.0` }, 'TOKEN_EXPIRED'],
      ['timestamp in exponent form', { ts: '1.7e9' }, 'TOKEN_EXPIRED'],
      ['no signature', { sig: null }, 'SIGNATURE_INVALID'],
      ['empty signature', { sig: '' }, 'SIGNATURE_INVALID'],
      ['bare prefix', { sig: 'sha256=' }, 'SIGNATURE_INVALID'],
      ['truncated signature', { sig: good.slice(0, -2) }, 'SIGNATURE_INVALID'],
      ['signature plus a byte', { sig: `${good}0` }, 'SIGNATURE_INVALID'],
      ['the API key as signature', { sig: API_KEY }, 'SIGNATURE_INVALID'],
      [
        'signed with another secret',
        { sig: sign('guessed-secret', ts, '/api/orders', raw) },
        'SIGNATURE_INVALID',
      ],
      ['signed without the timestamp', { sig: sign(API_KEY, '', '/api/orders', raw) }, 'SIGNATURE_INVALID'],
      // The scheme before method and path were signed: "<timestamp>.<raw body>".
      ['signed the old way, body and timestamp only', { sig: hmac(`${ts}.${raw}`) }, 'SIGNATURE_INVALID'],
      ['signed without method and path', { sig: hmac(`${ts}\n${raw}`) }, 'SIGNATURE_INVALID'],
      [
        'signed for GET',
        { sig: signRequest(API_KEY, { timestamp: ts, method: 'GET', path: '/api/orders', rawBody: raw }) },
        'SIGNATURE_INVALID',
      ],
      [
        'signed for another path',
        { sig: sign(API_KEY, ts, '/api/orders/SO-1/events', raw) },
        'SIGNATURE_INVALID',
      ],
      ['signed with a trailing slash', { sig: sign(API_KEY, ts, '/api/orders/', raw) }, 'SIGNATURE_INVALID'],
      [
        'signed with a line feed after the body',
        { sig: hmac(`${ts}\nPOST\n/api/orders\n${raw}\n`) },
        'SIGNATURE_INVALID',
      ],
      ['no API key', { key: null }, 'TOKEN_INVALID'],
      ['API key with a prefix', { key: `x${API_KEY}` }, 'TOKEN_INVALID'],
      ['API key truncated', { key: API_KEY.slice(0, -1) }, 'TOKEN_INVALID'],
    ];
    const before = dbFingerprint(f.db);
    for (const [why, headers, code] of cases) {
      const res = await send('/api/orders', raw, headers);
      expect(res.statusCode, why).toBe(401);
      expect(res.json().error.code, why).toBe(code);
      // The answer explains the scheme but never gives away the signature it expected.
      expect(res.body, why).not.toContain(good.slice(7));
    }
    expect(dbFingerprint(f.db)).toBe(before);
  });

  it('a captured request cannot be refreshed with a new timestamp: the timestamp is inside the MAC', async () => {
    const raw = JSON.stringify({ ...order, id: 'SO-captured' });
    const captured = { ts: String(nowS()), sig: sign(API_KEY, String(nowS()), '/api/orders', raw) };
    f.clock.advance(REPLAY_WINDOW_MS + 60_000);
    try {
      const old = await send('/api/orders', raw, captured);
      expect(old.json().error.code).toBe('TOKEN_EXPIRED');
      const refreshed = await send('/api/orders', raw, { ts: String(nowS()), sig: captured.sig });
      expect(refreshed.statusCode).toBe(401);
      expect(refreshed.json().error.code).toBe('SIGNATURE_INVALID');
      expect(f.db.prepare('SELECT 1 FROM orders WHERE external_id = ?').get('SO-captured')).toBeUndefined();
    } finally {
      f.clock.advance(-(REPLAY_WINDOW_MS + 60_000));
    }
  });

  it('a signature valid for one path is refused on another: another order, another endpoint, another query', async () => {
    // The MAC covers method and path: a captured "paid" event for SO-1 is refused for SO-2 before
    // its body is even parsed (the event id, unique across orders, would be a second line of defence).
    const raw = JSON.stringify({ event_id: 'evt-paid-1', type: 'paid' });
    const ts = String(nowS());
    const sig = sign(API_KEY, ts, '/api/orders/SO-1/events', raw);
    const before = dbFingerprint(f.db);
    for (const other of [
      '/api/orders/SO-2/events',
      '/api/orders/SO-1/events?x=1',
      '/api/orders/SO%2D1/events',
    ]) {
      const replay = await send(other, raw, { ts, sig });
      expect(replay.statusCode, other).toBe(401);
      expect(replay.json().error.code, other).toBe('SIGNATURE_INVALID');
      expect(replay.json().error.message, other).toContain(`path ${JSON.stringify(other)}`);
    }
    expect(dbFingerprint(f.db)).toBe(before);
    // An order body signed for POST /api/orders is refused on the events endpoint, and the other way.
    const orderRaw = JSON.stringify({ ...order, id: 'SO-2' });
    const orderSig = sign(API_KEY, ts, '/api/orders', orderRaw);
    const crossed = await send('/api/orders/SO-2/events', orderRaw, { ts, sig: orderSig });
    expect(crossed.json().error.code).toBe('SIGNATURE_INVALID');
    expect((await send('/api/orders', raw, { ts, sig })).json().error.code).toBe('SIGNATURE_INVALID');
    // Where it was signed for, it is accepted.
    expect((await send('/api/orders/SO-1/events', raw, { ts, sig })).statusCode).toBe(200);
    const statuses = f.db
      .prepare(
        "SELECT external_id, status FROM orders WHERE external_id IN ('SO-1', 'SO-2') ORDER BY external_id",
      )
      .all();
    expect(statuses).toEqual([
      { external_id: 'SO-1', status: 'paid' },
      { external_id: 'SO-2', status: 'pending' },
    ]);
  });

  it('reads nothing it has not verified: an unsigned body is refused before it is parsed or validated', async () => {
    const before = dbFingerprint(f.db);
    for (const raw of [
      '{"id": ',
      '{"__proto__": {"admin": true}}',
      JSON.stringify({ ...order, colour: 'red' }),
    ]) {
      const res = await send('/api/orders', raw, { sig: `sha256=${'ab'.repeat(32)}` });
      expect(res.statusCode, raw).toBe(401);
      expect(res.json().error.code).toBe('SIGNATURE_INVALID');
    }
    expect(dbFingerprint(f.db)).toBe(before);
  });
});
