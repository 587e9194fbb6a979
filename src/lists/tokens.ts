import { createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, MailroomError } from '../lib/index.ts';

/**
 * Signed, expiring tokens for confirm and unsubscribe links. The token carries the action, list id,
 * subscriber id and expiry; the MAC also covers the subscriber's address, which is NOT in the token
 * (addresses in URLs leak into logs and referrers). A token verified against another address, a
 * changed field, or a token past its expiry is refused.
 *
 * Lower-case only (base36 and hex), because the token also travels in a mailto local part and MTAs
 * may fold its case.
 */

export type TokenAction = 'confirm' | 'unsubscribe';
const ACTION_CODE: Record<TokenAction, string> = { confirm: 'c', unsubscribe: 'u' };

export interface TokenClaims {
  action: TokenAction;
  /** 0 means every list. */
  listId: number;
  subscriberId: number;
  expiresAt: number;
}

function mac(secret: string, body: string, address: string): string {
  return createHmac('sha256', secret).update(`${body}|${address}`).digest('hex').slice(0, 32);
}

export function signToken(secret: string, claims: TokenClaims, address: string): string {
  const body = [
    ACTION_CODE[claims.action],
    claims.listId.toString(36),
    claims.subscriberId.toString(36),
    Math.floor(claims.expiresAt / 1000).toString(36),
  ].join('.');
  return `${body}.${mac(secret, body, address)}`;
}

/** Reads the claims without checking them: use it only to find whose address to verify against. */
export function readToken(token: string): TokenClaims {
  const parts = token.toLowerCase().split('.');
  const [a, l, s, x, m] = parts;
  const action = a === 'c' ? 'confirm' : a === 'u' ? 'unsubscribe' : null;
  if (
    parts.length !== 5 ||
    !action ||
    !l ||
    !s ||
    !x ||
    !m ||
    !/^[0-9a-z]+$/.test(`${l}${s}${x}`) ||
    !/^[0-9a-f]{32}$/.test(m)
  ) {
    throw new MailroomError(ErrorCodes.TOKEN_INVALID, 'this link is not valid; use the link from the mail');
  }
  return {
    action,
    listId: Number.parseInt(l, 36),
    subscriberId: Number.parseInt(s, 36),
    expiresAt: Number.parseInt(x, 36) * 1000,
  };
}

/** Checks signature, address binding, action and expiry; returns the claims or throws. */
export function verifyToken(
  secret: string,
  token: string,
  address: string,
  expected: TokenAction,
  now: number,
): TokenClaims {
  const claims = readToken(token);
  const lower = token.toLowerCase();
  const cut = lower.lastIndexOf('.');
  const want = Buffer.from(mac(secret, lower.slice(0, cut), address), 'hex');
  const got = Buffer.from(lower.slice(cut + 1), 'hex');
  if (want.length !== got.length || !timingSafeEqual(want, got) || claims.action !== expected) {
    throw new MailroomError(ErrorCodes.TOKEN_INVALID, 'this link is not valid; use the link from the mail');
  }
  if (claims.expiresAt < now) {
    throw new MailroomError(
      ErrorCodes.TOKEN_EXPIRED,
      'this link has expired; subscribe again to get a new confirmation mail',
    );
  }
  return claims;
}
