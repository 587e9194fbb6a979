import { signToken } from './tokens.ts';
import type { ListsDeps } from './types.ts';
import { settingsOf } from './types.ts';

function base(deps: ListsDeps): string {
  return deps.publicUrl.replace(/\/+$/, '');
}

export function confirmUrl(deps: ListsDeps, listId: number, subscriberId: number, email: string): string {
  const token = signToken(
    deps.secret,
    {
      action: 'confirm',
      listId,
      subscriberId,
      expiresAt: deps.clock.now() + settingsOf(deps).confirmTtlMs,
    },
    email,
  );
  return `${base(deps)}/lists/confirm?token=${token}`;
}

export interface UnsubscribeLinks {
  token: string;
  /** https URL: GET shows the preference page, POST (RFC 8058 one-click) unsubscribes. */
  url: string;
  mailto: string;
  /** Header values for a list mail (RFC 2369 + RFC 8058). */
  headers: Record<string, string>;
}

/** listId null: the link leaves every list (segment mail has no list of its own). */
export function unsubscribeLinks(
  deps: ListsDeps,
  listId: number | null,
  subscriberId: number,
  email: string,
): UnsubscribeLinks {
  const token = signToken(
    deps.secret,
    {
      action: 'unsubscribe',
      listId: listId ?? 0,
      subscriberId,
      expiresAt: deps.clock.now() + settingsOf(deps).unsubscribeTtlMs,
    },
    email,
  );
  const url = `${base(deps)}/u/${token}`;
  const mailto = `mailto:unsubscribe+${token}@${deps.mailDomain}?subject=unsubscribe`;
  return {
    token,
    url,
    mailto,
    headers: {
      'List-Unsubscribe': `<${url}>, <${mailto}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
  };
}

/** The token in `unsubscribe+TOKEN@domain`, or null. */
export function tokenFromUnsubscribeAddress(address: string): string | null {
  const m = /^<?unsubscribe\+([0-9a-z.]+)@/i.exec(address.trim());
  return m ? (m[1] as string).toLowerCase() : null;
}
