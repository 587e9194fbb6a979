import { type Config, imapCredentials } from '../../config/index.ts';

const DAY = 86_400_000;

export type TokenState = 'expired' | 'soon' | 'ok' | 'unknown';

export interface OAuthTokenRow {
  account: string;
  user: string;
  /** Milliseconds since the epoch, or null when neither config nor the token says. */
  expiresAt: number | null;
  /** Where expiresAt came from: the account's access_token_expires_at, or the JWT's exp claim. */
  source: 'config' | 'jwt' | null;
  state: TokenState;
}

/**
 * The `exp` claim of a JWT access token (Microsoft's are JWTs; Google's are opaque), read without
 * checking the signature: it only tells staff when to renew, it grants nothing. Null for anything
 * that is not a JWT with a numeric exp.
 */
export function jwtExpiry(token: string): number | null {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    const exp = (claims as { exp?: unknown } | null)?.exp;
    return typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? exp * 1000 : null;
  } catch {
    return null;
  }
}

export function tokenState(expiresAt: number | null, now: number): TokenState {
  if (expiresAt === null) return 'unknown';
  if (expiresAt <= now) return 'expired';
  return expiresAt - now <= DAY ? 'soon' : 'ok';
}

/** The token in use now (a token file is read again), or '' when it cannot be read. */
function currentToken(config: Config, accountId: string): string {
  try {
    return imapCredentials(config, accountId).accessToken ?? '';
  } catch {
    return '';
  }
}

/** One row per IMAP account that logs in with an OAuth2 access token (XOAUTH2). Never the token itself. */
export function oauthTokenRows(config: Config, now: number): OAuthTokenRow[] {
  return config.imap.accounts
    .filter((a) => a.access_token_env || a.access_token_file)
    .map((a) => {
      const configured = a.access_token_expires_at ? Date.parse(a.access_token_expires_at) : Number.NaN;
      const fromJwt = jwtExpiry(currentToken(config, a.id));
      const expiresAt = Number.isFinite(configured) ? configured : fromJwt;
      const source = Number.isFinite(configured) ? 'config' : fromJwt === null ? null : 'jwt';
      return { account: a.id, user: a.user, expiresAt, source, state: tokenState(expiresAt, now) };
    });
}
