import { createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, MailroomError } from '../../lib/index.ts';

/**
 * Request signing for the order API (documented in the README, "Order events API"):
 *   X-Api-Key:             the API key
 *   X-Mailroom-Timestamp:  Unix time in seconds when the request was signed
 *   X-Mailroom-Signature:  sha256=<hex HMAC-SHA256 of the string to sign, keyed with the signing secret>
 *
 * The string to sign is four parts joined by a line feed ("\n"), with nothing after the body:
 *   <timestamp>      the X-Mailroom-Timestamp value, exactly as sent
 *   <METHOD>         the HTTP method in capitals: POST
 *   <path>           the request target exactly as sent in the request line, percent-encoding and
 *                    any ?query included: /api/orders/SO-1001/events (the path mailroom receives:
 *                    when a reverse proxy strips a prefix such as /mailroom, sign it without)
 *   <raw body>       the body bytes exactly as sent (UTF-8 JSON), possibly empty
 * e.g. "1767614400\nPOST\n/api/orders\n{"id":"SO-1001",...}". Neither the timestamp, the method nor
 * the path can hold a line feed, so the parts cannot be shifted into one another.
 *
 * The method and path inside the MAC mean a signature captured for one endpoint (an order's
 * "paid" event) cannot be replayed against another (another order, or POST /api/orders). The
 * timestamp inside it plus a 5-minute window stops a captured request being replayed later; order
 * events are also idempotent by event id, so a replay inside the window changes nothing.
 */

export const REPLAY_WINDOW_MS = 5 * 60_000;

export interface RequestToSign {
  timestamp: number | string;
  method: string;
  /** Request target as sent: path plus `?query` if any. */
  path: string;
  rawBody: string;
}

/** The exact bytes the HMAC is computed over; see the comment at the top of this file. */
export function stringToSign(r: RequestToSign): string {
  return `${r.timestamp}\n${r.method.toUpperCase()}\n${r.path}\n${r.rawBody}`;
}

/** The X-Mailroom-Signature value for a request: `sha256=<hex>`. For shops' clients and tests. */
export function signRequest(secret: string, r: RequestToSign): string {
  return `sha256=${createHmac('sha256', secret).update(stringToSign(r)).digest('hex')}`;
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  // timingSafeEqual needs equal lengths; comparing against itself keeps the time independent of a.
  if (ab.length !== bb.length) {
    timingSafeEqual(bb, bb);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

export interface SignedRequest {
  apiKey: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
  /** HTTP method as received. */
  method: string;
  /** Request target as received (path and query, still percent-encoded). */
  path: string;
  rawBody: string;
}

export interface VerifyOptions {
  apiKey: string;
  signingSecret: string;
  now: number;
  windowMs?: number;
}

/** Throws TOKEN_INVALID (key), TOKEN_EXPIRED (timestamp) or SIGNATURE_INVALID; returns on success. */
export function verifySignedRequest(req: SignedRequest, opts: VerifyOptions): void {
  if (!req.apiKey || !safeEqual(req.apiKey, opts.apiKey)) {
    throw new MailroomError(ErrorCodes.TOKEN_INVALID, 'missing or wrong API key in the X-Api-Key header');
  }
  if (!req.timestamp || !/^\d{1,12}$/.test(req.timestamp)) {
    throw new MailroomError(
      ErrorCodes.TOKEN_EXPIRED,
      'missing X-Mailroom-Timestamp header: expected the Unix time in seconds when the request was signed',
    );
  }
  const skew = Math.abs(opts.now - Number(req.timestamp) * 1000);
  const windowMs = opts.windowMs ?? REPLAY_WINDOW_MS;
  if (skew > windowMs) {
    throw new MailroomError(
      ErrorCodes.TOKEN_EXPIRED,
      `X-Mailroom-Timestamp is ${Math.round(skew / 1000)} s away from the server time (at most ${windowMs / 1000} s allowed): sign each request when sending it, and check the clocks`,
    );
  }
  const given = (req.signature ?? '').trim().toLowerCase();
  const expected = signRequest(opts.signingSecret, {
    timestamp: req.timestamp,
    method: req.method,
    path: req.path,
    rawBody: req.rawBody,
  });
  const normalised = given.startsWith('sha256=') ? given : `sha256=${given}`;
  if (!given || !safeEqual(normalised, expected)) {
    throw new MailroomError(
      ErrorCodes.SIGNATURE_INVALID,
      `X-Mailroom-Signature does not match: expected sha256=<hex HMAC-SHA256 of "<timestamp>\\n<METHOD>\\n<path>\\n<raw body>">, here with METHOD ${req.method.toUpperCase()} and path ${JSON.stringify(req.path).slice(0, 200)}`,
    );
  }
}
