import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createBlobStore } from '../../src/ingest/blob-store.ts';
import { tempDir } from '../harness/index.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('blob store layout', () => {
  it('writes new blobs under one fan-out level, the same for a buffer and a stream', async () => {
    const dir = path.join(tempDir('mailroom-blob-layout-'), 'blobs');
    const store = createBlobStore(dir);
    const raw = Buffer.from('Subject: hi\r\n\r\nhello\r\n');
    const a = await store.putRaw(raw);
    const b = await store.putRaw(Readable.from([raw]));
    expect(a.sha256).toBe(sha(raw));
    expect([a.existed, b.existed, b.sha256, b.size]).toEqual([false, true, a.sha256, raw.length]);
    expect(a.head.toString()).toBe(raw.toString());
    expect(existsSync(path.join(dir, a.sha256.slice(0, 2), `${a.sha256}.eml.gz`))).toBe(true);
    expect((await store.readRaw(a.sha256)).equals(raw)).toBe(true);
    const file = await store.putFile(Buffer.from('attachment bytes'));
    expect(existsSync(path.join(dir, file.sha256.slice(0, 2), file.sha256))).toBe(true);
    expect(readdirSync(path.join(dir, 'tmp'))).toEqual([]);
  });

  it('finds, reads and dedupes against blobs stored in the earlier two-level layout', async () => {
    const dir = path.join(tempDir('mailroom-blob-legacy-'), 'blobs');
    const raw = Buffer.from('Subject: old\r\n\r\nstored by an earlier version\r\n');
    const h = sha(raw);
    const legacy = path.join(dir, h.slice(0, 2), h.slice(2, 4), `${h}.eml.gz`);
    mkdirSync(path.dirname(legacy), { recursive: true });
    writeFileSync(legacy, gzipSync(raw));
    const store = createBlobStore(dir);
    expect(store.has(h)).toBe(true);
    expect(store.pathOf(h, 'raw')).toBe(legacy);
    expect((await store.readRaw(h)).equals(raw)).toBe(true);
    const again = await store.putRaw(raw);
    expect(again.existed).toBe(true);
    expect(existsSync(path.join(dir, h.slice(0, 2), `${h}.eml.gz`))).toBe(false);
  });
});
