import { existsSync, mkdirSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createBlobStore, STALE_TEMP_MS } from '../../src/ingest/blob-store.ts';
import { createLogger } from '../../src/lib/index.ts';
import { tempDir } from '../harness/index.ts';

/** A real (pino) logger whose lines are kept, to check the one start-up line. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level: 'info', pretty: false, destination }), lines };
}

function backdate(file: string, ageMs: number): void {
  const t = (Date.now() - ageMs) / 1000;
  utimesSync(file, t, t);
}

describe('blob store start-up sweep of temp files', () => {
  it('removes stale temp files, keeps fresh ones (a live writer elsewhere) and every finished blob', async () => {
    const dir = path.join(tempDir('mailroom-blobs-'), 'blobs');
    const first = createBlobStore(dir);
    const raw = await first.putRaw(Buffer.from('From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n'));
    const file = await first.putFile(Buffer.from('%PDF-1.4 attachment'));
    // Finished blobs from long ago must survive: age alone never makes a blob removable.
    backdate(first.pathOf(raw.sha256, 'raw'), 30 * 86_400_000);
    backdate(first.pathOf(file.sha256, 'file'), 30 * 86_400_000);

    const tmp = path.join(dir, 'tmp');
    const stale = ['rAbc123_-x.part', 'rDeadWriter9.part', 'rOld.part'];
    for (const name of stale) {
      writeFileSync(path.join(tmp, name), 'half a message');
      backdate(path.join(tmp, name), STALE_TEMP_MS + 60_000);
    }
    // Being written right now by another process (a `mailroom import` beside `mailroom start`).
    writeFileSync(path.join(tmp, 'rLiveWriter.part'), 'still coming');
    // Not ours: never removed, however old.
    writeFileSync(path.join(tmp, 'notes.txt'), 'x');
    backdate(path.join(tmp, 'notes.txt'), STALE_TEMP_MS * 10);
    mkdirSync(path.join(tmp, 'rDir.part'));
    backdate(path.join(tmp, 'rDir.part'), STALE_TEMP_MS * 10);
    symlinkSync(first.pathOf(raw.sha256, 'raw'), path.join(tmp, 'rLink.part'));

    const { logger, lines } = capturingLogger();
    const store = createBlobStore(dir, { logger });
    expect(readdirSync(tmp).sort()).toEqual(['notes.txt', 'rDir.part', 'rLink.part', 'rLiveWriter.part']);
    expect(store.has(raw.sha256)).toBe(true);
    expect(store.has(file.sha256)).toBe(true);
    expect((await store.readRaw(raw.sha256)).toString()).toContain('hello');
    const swept = lines.filter((l) => /stale temp file/.test(String(l.msg)));
    expect(swept).toHaveLength(1);
    expect(swept[0]).toMatchObject({ removed: 3, inProgress: 1, level: 30 });
    expect(swept[0]?.msg).toBe('blob store: removed 3 stale temp files left by an interrupted write');

    // The store works as before, and a second start finds nothing more to remove.
    const again = await store.putRaw(Buffer.from('another message'));
    expect(again.existed).toBe(false);
    const quiet = capturingLogger();
    createBlobStore(dir, { logger: quiet.logger });
    expect(quiet.lines.filter((l) => /stale temp file/.test(String(l.msg)))).toEqual([]);
    expect(existsSync(path.join(tmp, 'rLiveWriter.part'))).toBe(true);
  });

  it('a temp file turns stale only after the safe age, measured from its last write', () => {
    const dir = path.join(tempDir('mailroom-blobs-'), 'blobs');
    createBlobStore(dir);
    const part = path.join(dir, 'tmp', 'rWriter.part');
    writeFileSync(part, 'x');
    backdate(part, STALE_TEMP_MS - 60_000);
    createBlobStore(dir);
    expect(existsSync(part)).toBe(true);
    backdate(part, STALE_TEMP_MS + 60_000);
    createBlobStore(dir);
    expect(existsSync(part)).toBe(false);
  });
});
