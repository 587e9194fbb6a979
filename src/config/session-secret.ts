import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

/** The file's secret; '' when it is empty (a crash of an older version between create and write). */
function readSecret(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** A new random secret, written and fsynced under a temporary name next to `file`. */
function writeTemp(file: string): { secret: string; tmp: string } {
  const secret = randomBytes(32).toString('base64url');
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${secret}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return { secret, tmp };
}

/**
 * The key that session ids are hashed with (and list tokens signed with): the configured secret,
 * or else a random one created once in the data dir (mode 0600) so sessions and links survive
 * restarts without any setup.
 *
 * The file appears whole or not at all: the secret is written and fsynced under a temporary name,
 * then linked into place, which fails if another process got there first (then theirs is used, so
 * processes starting together agree). A secret in the file is never replaced, whatever its length:
 * links already in customers' mail were signed with it. Only an empty file (a crash of an older
 * version between create and write) is replaced, by an atomic rename, and read back.
 */
export function loadSessionSecret(configured: string | undefined, dataDir: string): string {
  if (configured) return configured;
  const file = path.join(dataDir, 'session-secret');
  const existing = readSecret(file);
  if (existing) return existing;
  mkdirSync(dataDir, { recursive: true });
  const { secret, tmp } = writeTemp(file);
  try {
    if (existing === '') {
      renameSync(tmp, file);
      return readSecret(file) || secret;
    }
    linkSync(tmp, file);
    return secret;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const theirs = readSecret(file);
    if (!theirs) throw new Error(`${file} exists but holds no secret; delete it and start again`);
    return theirs;
  } finally {
    rmSync(tmp, { force: true });
  }
}
