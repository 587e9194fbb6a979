/**
 * A process SIGKILLed while writing a blob leaves its temp file behind (<blob dir>/tmp/<id>.part);
 * the next process to open the store removes it once it is older than STALE_TEMP_MS, says so in
 * one log line, and leaves finished blobs and the temp files of writers still alive alone.
 * Real processes: the writer is killed with SIGKILL, not asked to stop.
 */
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBlobStore, STALE_TEMP_MS } from '../../src/ingest/blob-store.ts';
import { tempDir } from '../harness/index.ts';
import { HERE, sigkill, spawnNode, until } from './crash-kit.ts';

const CHILD = path.join(HERE, 'blob-writer-child.ts');

const parts = (dir: string) => readdirSync(path.join(dir, 'tmp')).filter((n) => n.endsWith('.part'));
const growing = (dir: string) =>
  parts(dir).some((n) => {
    try {
      return statSync(path.join(dir, 'tmp', n)).size > 0;
    } catch {
      return false;
    }
  });
const sweepLines = (out: string) =>
  out
    .split('\n')
    .filter((l) => l.includes('stale temp file'))
    .map((l) => JSON.parse(l) as { removed: number; inProgress: number; msg: string });

describe('blob store after a SIGKILL mid-write', () => {
  it('the next start removes the dead writer’s temp file and keeps every finished blob', async () => {
    const dir = path.join(tempDir('mailroom-blob-crash-'), 'blobs');
    const store = createBlobStore(dir);
    const done = await store.putRaw(Buffer.from('Subject: finished\r\n\r\nstored before the crash\r\n'));

    const writer = spawnNode(CHILD, [dir, 'stream', '0']);
    await until('the writer to be half-way through a blob', () => growing(dir), 20_000);
    await sigkill(writer);
    const left = parts(dir);
    expect(left, writer.output()).toHaveLength(1);

    // A restart within the hour leaves it: from outside it looks like a slow live writer.
    const soon = spawnNode(CHILD, [dir, 'open']);
    expect(await soon.exited, soon.output()).toBe(0);
    expect(parts(dir)).toEqual(left);

    // Later (its mtime set back instead of waiting an hour), the next start removes it.
    const t = (Date.now() - STALE_TEMP_MS - 60_000) / 1000;
    utimesSync(path.join(dir, 'tmp', left[0] as string), t, t);
    const restart = spawnNode(CHILD, [dir, 'open']);
    expect(await restart.exited, restart.output()).toBe(0);
    expect(parts(dir)).toEqual([]);
    expect(sweepLines(restart.output())).toMatchObject([
      {
        removed: 1,
        inProgress: 0,
        msg: 'blob store: removed 1 stale temp file left by an interrupted write',
      },
    ]);
    expect((await store.readRaw(done.sha256)).toString()).toContain('stored before the crash');
  }, 60_000);

  it('a process starting beside a live writer leaves its temp file alone, and the write completes', async () => {
    const dir = path.join(tempDir('mailroom-blob-crash-'), 'blobs');
    createBlobStore(dir);
    const writer = spawnNode(CHILD, [dir, 'stream', '40']);
    await until('the writer to be half-way through a blob', () => growing(dir), 20_000);
    // Another process (a `mailroom import`, a `mailroom worker`) opens the same store meanwhile.
    const other = spawnNode(CHILD, [dir, 'open']);
    expect(await other.exited, other.output()).toBe(0);
    expect(sweepLines(other.output())).toEqual([]);
    expect(await writer.exited, writer.output()).toBe(0);
    const sha = /"stored":"([0-9a-f]{64})"/.exec(writer.output())?.[1] ?? '';
    expect(existsSync(createBlobStore(dir).pathOf(sha, 'raw')), writer.output()).toBe(true);
    expect(parts(dir)).toEqual([]);
  }, 60_000);
});
