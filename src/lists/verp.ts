/**
 * VERP-style bounce addresses: `bounces+TOKEN@domain` as the envelope sender (Return-Path), so a
 * DSN that comes back names the exact send row even when the report omits or rewrites the recipient.
 */
export function bounceAddress(token: string, mailDomain: string): string {
  return `bounces+${token}@${mailDomain}`;
}

/** The per-send token in a Return-Path / DSN recipient like `bounces+TOKEN@domain`, or null. */
export function sendTokenFromAddress(address: string): string | null {
  const m = /bounces\+([0-9a-f]{20})@/i.exec(address);
  return m ? (m[1] as string).toLowerCase() : null;
}
