import { domainToASCII } from 'node:url';

export interface NormalisedAddress {
  /** Lower-case local part, IDN domain in punycode: the key of a customer record. */
  email: string;
  /** The same without a +tag, linking plus-addressed aliases of one person. */
  base: string;
}

/**
 * Normalises an address for use as a key. Case is folded (nearly every mail system treats local
 * parts case-insensitively, RFC 5321 notwithstanding), the domain goes to punycode so `例子.中国` and
 * `xn--fsqu00a.xn--fiqs8s` are one customer, and plus-tags are kept (they reach different folders)
 * but linked through `base`. Returns null for something that is not an address.
 */
export function normaliseAddress(input: string): NormalisedAddress | null {
  const trimmed = input
    .trim()
    .replace(/^<|>$/g, '')
    .replace(/[\u0000-\u001f\u007f]/g, '');
  const at = trimmed.lastIndexOf('@');
  if (at <= 0 || at === trimmed.length - 1) return null;
  const local = trimmed.slice(0, at).toLowerCase();
  const domain = domainToASCII(
    trimmed
      .slice(at + 1)
      .toLowerCase()
      .replace(/\.$/, ''),
  );
  if (!domain || /\s/.test(local)) return null;
  const email = `${local}@${domain}`;
  const plus = local.indexOf('+');
  const base = plus > 0 ? `${local.slice(0, plus)}@${domain}` : email;
  return { email, base };
}
