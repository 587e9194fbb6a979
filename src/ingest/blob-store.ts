import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { randomId } from '../lib/index.ts';

/** Bytes of the start of a raw message kept in memory for header fix-ups and DSN scans. */
export const RAW_HEAD_BYTES = 256 * 1024;

export interface PutResult {
  sha256: string;
  /** Uncompressed size in bytes. */
  size: number;
  /** True when an identical blob was already stored. */
  existed: boolean;
  /** The first RAW_HEAD_BYTES of the content (raw blobs only). */
  head: Buffer;
}

export interface BlobStore {
  readonly dir: string;
  /** Stores a raw message gzip'd, named by the sha256 of its uncompressed bytes. */
  putRaw(src: Buffer | Readable): Promise<PutResult>;
  /** Stores an attachment as-is, named by its sha256. */
  putFile(src: Buffer | Readable): Promise<PutResult>;
  openRaw(sha256: string): Readable;
  readRaw(sha256: string): Promise<Buffer>;
  openFile(sha256: string): Readable;
  has(sha256: string): boolean;
  pathOf(sha256: string, kind: 'raw' | 'file'): string;
}

class Measure extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  private readonly headChunks: Buffer[] = [];
  private headLen = 0;
  constructor(private readonly keepHead: boolean) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    if (this.keepHead && this.headLen < RAW_HEAD_BYTES) {
      const part = chunk.subarray(0, RAW_HEAD_BYTES - this.headLen);
      this.headChunks.push(Buffer.from(part));
      this.headLen += part.length;
    }
    cb(null, chunk);
  }
  head(): Buffer {
    return Buffer.concat(this.headChunks);
  }
}

/**
 * Content-addressed files under `<dir>/aa/bb/<sha256>[.gz]`. Writes go to a temp file first and
 * are renamed into place, so a crash never leaves a half-written blob under a real name; the
 * same content written twice is stored once. Files never change after they are written, which
 * is what lets `mailroom backup` tell people to copy the folder while mailroom runs.
 */
export function createBlobStore(dir: string): BlobStore {
  mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  const pathOf = (sha256: string, kind: 'raw' | 'file') =>
    path.join(dir, sha256.slice(0, 2), sha256.slice(2, 4), kind === 'raw' ? `${sha256}.eml.gz` : sha256);

  async function put(src: Buffer | Readable, kind: 'raw' | 'file'): Promise<PutResult> {
    const tmp = path.join(dir, 'tmp', `${randomId(9)}.part`);
    const measure = new Measure(kind === 'raw');
    const input = Buffer.isBuffer(src) ? Readable.from([src]) : src;
    try {
      if (kind === 'raw') await pipeline(input, measure, createGzip({ level: 4 }), createWriteStream(tmp));
      else await pipeline(input, measure, createWriteStream(tmp));
      const sha256 = measure.hash.digest('hex');
      const final = pathOf(sha256, kind);
      const existed = existsSync(final);
      if (existed) rmSync(tmp, { force: true });
      else {
        mkdirSync(path.dirname(final), { recursive: true });
        renameSync(tmp, final);
      }
      return { sha256, size: measure.size, existed, head: measure.head() };
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  return {
    dir,
    putRaw: (src) => put(src, 'raw'),
    putFile: (src) => put(src, 'file'),
    openRaw(sha256) {
      const gunzip = createGunzip();
      const file = createReadStream(pathOf(sha256, 'raw'));
      file.on('error', (e) => gunzip.destroy(e));
      return file.pipe(gunzip);
    },
    async readRaw(sha256) {
      const chunks: Buffer[] = [];
      for await (const c of this.openRaw(sha256)) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    },
    openFile: (sha256) => createReadStream(pathOf(sha256, 'file')),
    has(sha256) {
      return existsSync(pathOf(sha256, 'raw')) || existsSync(pathOf(sha256, 'file'));
    },
    pathOf,
  };
}

export function blobSize(store: BlobStore, sha256: string): number {
  return statSync(store.pathOf(sha256, 'file')).size;
}
