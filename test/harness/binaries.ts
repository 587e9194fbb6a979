import { existsSync } from 'node:fs';

/** The test servers and the Debian package that provides each. */
export const SERVERS = {
  dovecot: { bin: ['/usr/sbin/dovecot'], pkg: 'dovecot-imapd' },
  redis: { bin: ['/usr/bin/redis-server'], pkg: 'redis-server' },
  chromium: { bin: ['/usr/bin/chromium'], pkg: 'chromium' },
} as const;

export type ServerName = keyof typeof SERVERS;

export function findBinary(name: ServerName): string | null {
  return SERVERS[name].bin.find((p) => existsSync(p)) ?? null;
}

export const inCI = (): boolean => /^(1|true|yes)$/i.test(process.env.CI ?? '');
