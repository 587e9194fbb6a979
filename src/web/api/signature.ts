import { createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, MailroomError } from '../../lib/index.ts';

/**
 * Request signing for the order API (documented in the README):
 *   X-Api-Key:             the API key
 *   X-Mailroom-Timestamp:  Unix time in seconds when the request was signed
 *   X-Mailroom-Signature:  sha256=<hex HMAC-SHA256 of `${timestamp}.${rawBody}` with the signing secret>
 * The timestamp inside the MAC plus a 5-minute window stops a captured request being replayed
 * later; order events are also idempotent by event id, so a replay inside the window changes nothing.
 */

export const REPLAY_WINDOW_MS = 5 * 60_000;

export function signBody(secret: string, timestamp: number | string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
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
  const expected = signBody(opts.signingSecret, req.timestamp, req.rawBody);
  const normalised = given.startsWith('sha256=') ? given : `sha256=${given}`;
  if (!given || !safeEqual(normalised, expected)) {
    throw new MailroomError(
      ErrorCodes.SIGNATURE_INVALID,
      'X-Mailroom-Signature does not match: expected sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">',
    );
  }
}
