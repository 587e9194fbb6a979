import { inject } from 'vitest';
import type { ServerName } from './binaries.ts';
import type { DovecotInfo } from './dovecot.ts';
import type { RedisInfo } from './redis.ts';

export interface ServersContext {
  bins: Record<ServerName, string | null>;
  dovecot: DovecotInfo | null;
  redis: RedisInfo | null;
}

declare module 'vitest' {
  export interface ProvidedContext {
    servers: ServersContext;
  }
}

export function servers(): ServersContext {
  return inject('servers');
}

/** The shared Dovecot of this run, or null when it is not installed (never null in CI). */
export function dovecotInfo(): DovecotInfo | null {
  return servers().dovecot;
}

export function redisInfo(): RedisInfo | null {
  return servers().redis;
}

export function binary(name: ServerName): string | null {
  return servers().bins[name];
}
