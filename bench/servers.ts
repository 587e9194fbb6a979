// Benchmarks start their servers through the same harness as the tests.
import { findBinary, SERVERS, type ServerName } from '../test/harness/binaries.ts';

export { startDovecot } from '../test/harness/dovecot.ts';
export { appendMessages, createImapUser, imapClient, waitForLogin } from '../test/harness/imap.ts';
export { startRedis } from '../test/harness/redis.ts';
export { startSmtpPeer } from '../test/harness/smtp-peer.ts';

export function requireBinary(name: ServerName): string {
  const bin = findBinary(name);
  if (!bin)
    throw new Error(
      `${name} is not installed (Debian package ${SERVERS[name].pkg}); run npm run test:full once, or apt-get install it`,
    );
  return bin;
}

/** Peak resident set size of this process so far, in MB (Linux VmHWM). */
export async function peakRssMb(): Promise<number> {
  const { readFileSync } = await import('node:fs');
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / 2 ** 20;
}

/** Resets the peak RSS counter (Linux: writing 5 to clear_refs), so one phase's peak can be read alone. */
export async function resetPeakRss(): Promise<void> {
  const { writeFileSync } = await import('node:fs');
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // not Linux or not permitted: peaks then cover the whole run
  }
}
