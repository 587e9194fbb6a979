import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSessionSecret } from '../../src/config/index.ts';

const dir = () => mkdtempSync(path.join(tmpdir(), 'mailroom-secret-'));

describe('session secret', () => {
  it('creates one random secret (mode 0600) and returns the same one on the next start', () => {
    const d = dir();
    const first = loadSessionSecret(undefined, d);
    expect(first.length).toBeGreaterThanOrEqual(43);
    expect(statSync(path.join(d, 'session-secret')).mode & 0o777).toBe(0o600);
    expect(loadSessionSecret(undefined, d)).toBe(first);
    expect(loadSessionSecret(undefined, dir())).not.toBe(first);
  });

  it('replaces an empty file left by a crash between create and write instead of keying sessions with ""', () => {
    const d = dir();
    writeFileSync(path.join(d, 'session-secret'), '');
    const secret = loadSessionSecret(undefined, d);
    expect(secret.length).toBeGreaterThanOrEqual(43);
    expect(readFileSync(path.join(d, 'session-secret'), 'utf8').trim()).toBe(secret);
  });

  it('keeps a secret already in the file, even a short one (links in mail were signed with it)', () => {
    const d = dir();
    writeFileSync(path.join(d, 'session-secret'), 'short-but-set\n');
    expect(loadSessionSecret(undefined, d)).toBe('short-but-set');
    expect(readFileSync(path.join(d, 'session-secret'), 'utf8')).toBe('short-but-set\n');
  });

  it('uses the configured secret and writes nothing', () => {
    const d = dir();
    expect(loadSessionSecret('from-the-environment', d)).toBe('from-the-environment');
    expect(() => statSync(path.join(d, 'session-secret'))).toThrow();
  });
});
