import type { TestProject } from 'vitest/node';
import { findBinary, inCI, SERVERS, type ServerName } from './binaries.ts';
import { type RunningDovecot, startDovecot } from './dovecot.ts';
import { type RunningRedis, startRedis } from './redis.ts';
import type { ServersContext } from './servers.ts';

/**
 * Starts the real servers once per test run, on free loopback ports in temp dirs, and stops them
 * afterwards. A missing server fails the run in CI (naming the package to install) and, locally,
 * skips the suites that need it with one loud line each.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const missing: string[] = [];
  const bins = {} as Record<ServerName, string | null>;
  for (const name of Object.keys(SERVERS) as ServerName[]) {
    bins[name] = findBinary(name);
    if (!bins[name]) missing.push(`${name} (Debian package ${SERVERS[name].pkg})`);
  }
  if (missing.length > 0) {
    const msg = `test servers missing: ${missing.join(', ')}; run "npm run test:full" to install them`;
    if (inCI()) throw new Error(`${msg}. In CI a missing server is a failure.`);
    for (const m of missing) console.warn(`\n!!! SKIPPING every suite that needs ${m}: not installed\n`);
  }

  let dovecot: RunningDovecot | null = null;
  let redis: RunningRedis | null = null;
  if (bins.dovecot) dovecot = await startDovecot(bins.dovecot);
  if (bins.redis) redis = await startRedis(bins.redis);

  const ctx: ServersContext = {
    bins,
    dovecot: dovecot
      ? { host: dovecot.host, port: dovecot.port, dir: dovecot.dir, usersFile: dovecot.usersFile }
      : null,
    redis: redis ? { url: redis.url, port: redis.port } : null,
  };
  project.provide('servers', ctx);

  return async () => {
    await Promise.allSettled([dovecot?.stop(), redis?.stop()]);
  };
}
