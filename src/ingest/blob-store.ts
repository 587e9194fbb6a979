import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  type Dirent,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, createGzip, gzip } from 'node:zlib';
import { type Logger, randomId } from '../lib/index.ts';

const gzipAsync = promisify(gzip);

/** Bytes of the start of a raw message kept in memory for header fix-ups and DSN scans. */
export const RAW_HEAD_BYTES = 256 * 1024;

/**
 * A temp file untouched (mtime) for this long belongs to a writer that died (SIGKILL, power cut,
 * OOM) and is removed at start-up. A live writer moves its file's mtime with every chunk and renames
 * it the moment the last one is written, so only a source stalled this long could look stale, and
 * IMAP and file reads time out long before. Far above any clock skew of a data dir on a network share.
 */
export const STALE_TEMP_MS = 60 * 60 * 1000;

/** Temp files are `<dir>/tmp/<randomId>.part`; nothing else is ever removed by the sweep. */
const TEMP_NAME = /^[A-Za-z0-9_-]+\.part$/;

export interface BlobStoreOptions {
  /** Gets the one start-up line saying how many stale temp files were removed. */
  logger?: Pick<Logger, 'info' | 'debug' | 'warn'> | undefined;
  /** Default STALE_TEMP_MS. */
  staleTempMs?: number | undefined;
  /**
   * Wall-clock time, for tests. Deliberately not the app's Clock: file mtimes are wall-clock time,
   * and a test clock set ahead of it would make a live writer's file look stale.
   */
  now?: (() => number) | undefined;
}

/**
 * Removes temp files left under `<dir>/tmp` by writers that died mid-write; returns how many.
 * Safe with several processes on one data dir (`mailroom start`, a `mailroom import` beside it,
 * `mailroom worker`s opening the store): it goes by age, never by "not mine", so a temp file another
 * live process is writing is left alone. Were a stalled writer's file taken all the same, its rename
 * fails and that put is retried; no half-written blob ever gets a real name. Finished blobs live
 * under `<dir>/aa/` and are never looked at, and only `<id>.part` regular files are considered.
 */
export function sweepStaleTemp(dir: string, opts: BlobStoreOptions = {}): number {
  const tmpDir = path.join(dir, 'tmp');
  const now = (opts.now ?? Date.now)();
  const maxAge = opts.staleTempMs ?? STALE_TEMP_MS;
  let removed = 0;
  let kept = 0;
  let entries: Dirent[];
  try {
    entries = readdirSync(tmpDir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  for (const e of entries) {
    if (!e.isFile() || !TEMP_NAME.test(e.name)) continue;
    const file = path.join(tmpDir, e.name);
    try {
      if (now - statSync(file).mtimeMs <= maxAge) {
        kept++;
        continue;
      }
      rmSync(file);
      removed++;
    } catch (err) {
      // Renamed into place or removed by another process's sweep meanwhile: nothing to do.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  const log = opts.logger;
  if (removed > 0)
    log?.info(
      { dir: tmpDir, removed, inProgress: kept },
      `blob store: removed ${removed} stale temp file${removed === 1 ? '' : 's'} left by an interrupted write`,
    );
  else log?.debug({ dir: tmpDir, removed, inProgress: kept }, 'blob store: removed 0 stale temp files');
  return removed;
}

/**
 * Where a blob of the store under `dir` goes, and where an older store put it. One level of 256
 * fan-out directories; the first layout had two (`aa/bb/`, 65,536 directories), so a young store
 * made a directory for almost every blob: ~0.7 ms each on an ext4 VM disk, a tenth of ingest time.
 * Blobs written in that layout are still found where they are.
 */
function blobPaths(dir: string, sha256: string, kind: 'raw' | 'file'): { current: string; legacy: string } {
  const name = kind === 'raw' ? `${sha256}.eml.gz` : sha256;
  return {
    current: path.join(dir, sha256.slice(0, 2), name),
    legacy: path.join(dir, sha256.slice(0, 2), sha256.slice(2, 4), name),
  };
}

/** The file of a stored blob (either layout) of the store under `dir`, or null when there is none. */
export function storedBlobPath(dir: string, sha256: string, kind: 'raw' | 'file'): string | null {
  const p = blobPaths(dir, sha256, kind);
  if (existsSync(p.current)) return p.current;
  return existsSync(p.legacy) ? p.legacy : null;
}

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
 * Content-addressed files under `<dir>/aa/<sha256>[.eml.gz]`. Writes go to a temp file first and
 * are renamed into place, so a crash never leaves a half-written blob under a real name; the
 * same content written twice is stored once. Files never change after they are written, which
 * is what lets `mailroom backup` tell people to copy the folder while mailroom runs. Opening the
 * store (at the start of every process) sweeps temp files left by killed writers: sweepStaleTemp.
 */
export function createBlobStore(dir: string, opts: BlobStoreOptions = {}): BlobStore {
  mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  sweepStaleTemp(dir, opts);
  const newPath = (sha256: string, kind: 'raw' | 'file') => blobPaths(dir, sha256, kind).current;
  const stored = (sha256: string, kind: 'raw' | 'file') => storedBlobPath(dir, sha256, kind) !== null;
  /** Where the blob is (either layout), or where a new one goes. */
  const pathOf = (sha256: string, kind: 'raw' | 'file') =>
    storedBlobPath(dir, sha256, kind) ?? newPath(sha256, kind);

  // Fan-out directories known to exist: a recursive mkdir per blob cost ~5% of ingest. Both run on
  // libuv's thread pool: renameSync alone was 7% of the ingest thread's time on this disk.
  const madeDirs = new Set<string>();
  async function placeFinal(tmp: string, final: string): Promise<void> {
    const parent = path.dirname(final);
    if (!madeDirs.has(parent)) {
      await mkdir(parent, { recursive: true });
      madeDirs.add(parent);
    }
    try {
      await rename(tmp, final);
    } catch (err) {
      // The directory was removed since (an erase emptied it): make it again, once.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !existsSync(tmp)) throw err;
      await mkdir(parent, { recursive: true });
      await rename(tmp, final);
    }
  }

  /**
   * A message already in memory (the IMAP path): hashed first, so a blob that exists is not
   * compressed or written again; gzip runs on libuv's thread pool, off the parsing thread.
   */
  async function putBuffer(src: Buffer, kind: 'raw' | 'file'): Promise<PutResult> {
    const sha256 = createHash('sha256').update(src).digest('hex');
    const head = kind === 'raw' ? src.subarray(0, RAW_HEAD_BYTES) : Buffer.alloc(0);
    if (stored(sha256, kind)) return { sha256, size: src.length, existed: true, head };
    const final = newPath(sha256, kind);
    const tmp = path.join(dir, 'tmp', `${randomId(9)}.part`);
    try {
      await writeFile(tmp, kind === 'raw' ? await gzipAsync(src, { level: 4 }) : src);
      await placeFinal(tmp, final);
      return { sha256, size: src.length, existed: false, head };
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  async function put(src: Buffer | Readable, kind: 'raw' | 'file'): Promise<PutResult> {
    if (Buffer.isBuffer(src)) return putBuffer(src, kind);
    const tmp = path.join(dir, 'tmp', `${randomId(9)}.part`);
    const measure = new Measure(kind === 'raw');
    try {
      if (kind === 'raw') await pipeline(src, measure, createGzip({ level: 4 }), createWriteStream(tmp));
      else await pipeline(src, measure, createWriteStream(tmp));
      const sha256 = measure.hash.digest('hex');
      const existed = stored(sha256, kind);
      if (existed) rmSync(tmp, { force: true });
      else await placeFinal(tmp, newPath(sha256, kind));
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
      return stored(sha256, 'raw') || stored(sha256, 'file');
    },
    pathOf,
  };
}

export function blobSize(store: BlobStore, sha256: string): number {
  return statSync(store.pathOf(sha256, 'file')).size;
}
