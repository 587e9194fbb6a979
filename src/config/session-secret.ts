import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

/** Shorter than this is not a secret mailroom wrote (32 random bytes are 43 characters). */
const MIN_LENGTH = 32;

function readSecret(file: string): string | null {
  try {
    const s = readFileSync(file, 'utf8').trim();
    return s.length >= MIN_LENGTH ? s : null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * The key that session ids are hashed with: the configured secret, or else a random one created
 * once in the data dir (mode 0600) so sessions survive restarts without any setup.
 *
 * The file appears whole or not at all: the secret is written and fsynced under a temporary name,
 * then linked into place, which fails if another process got there first (then theirs is used).
 * An empty or truncated file (a crash of an older version between create and write) is replaced:
 * sessions must never be keyed with an empty secret.
 */
export function loadSessionSecret(configured: string | undefined, dataDir: string): string {
  if (configured) return configured;
  const file = path.join(dataDir, 'session-secret');
  const existing = readSecret(file);
  if (existing) return existing;
  mkdirSync(dataDir, { recursive: true });
  rmSync(file, { force: true });
  const secret = randomBytes(32).toString('base64url');
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${secret}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
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
