import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { type ImportSummary, importPath, readMbox } from '../../src/ingest/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { openDatabase } from '../../src/store/index.ts';
import { tempDir } from '../harness/index.ts';
import { FIXTURES, mail, setup } from './helpers.ts';

const BIN = path.join(PROJECT_ROOT, 'bin', 'mailroom.js');

function mbox(n: number, tag: string): string {
  return Array.from(
    { length: n },
    (_, i) =>
      `From buyer${i}@customer.example Mon Jan  5 10:00:00 2026\n` +
      `From: buyer${i}@customer.example\nTo: support@shop.example\nSubject: ${tag} ${i}\n` +
      `Message-ID: <${tag}-${i}@customer.example>\n\nHello ${i}\n>From the start of a line\n\n`,
  ).join('');
}

function cli(args: string[], dataDir: string) {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dataDir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      MAILROOM_DATA_DIR: dataDir,
      MAILROOM_LOG_LEVEL: 'error',
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>(
    (r) => child.on('exit', (code, signal) => r({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

describe('import: .eml files, folders, Maildir and mbox', () => {
  it('a folder of .eml files: every file in exactly one count; running it again gives duplicates', async () => {
    const t = setup();
    const dir = path.join(t.dir, 'in');
    mkdirSync(dir);
    for (const f of readdirSync(FIXTURES)) copyFileSync(path.join(FIXTURES, f), path.join(dir, f));
    copyFileSync(path.join(FIXTURES, 'list-mail.eml'), path.join(dir, 'list-mail-copy.eml'));
    const files = readdirSync(dir).length;
    const first = await importPath(dir, { pipeline: t.pipeline, logger: silentLogger() });
    expect(first.imported + first.duplicates + first.parseErrors + first.failed).toBe(files);
    expect(first.duplicates).toBe(1);
    const again = await importPath(dir, { pipeline: t.pipeline, logger: silentLogger() });
    expect(again).toEqual({ imported: 0, duplicates: files, parseErrors: 0, failed: 0 });
  });

  it('a Maildir (cur/ and new/, tmp/ ignored)', async () => {
    const t = setup();
    const md = path.join(t.dir, 'Maildir');
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(path.join(md, d), { recursive: true });
    writeFileSync(path.join(md, 'cur', '1.host:2,S'), mail({ 'Message-ID': '<md1@c.example>' }));
    writeFileSync(path.join(md, 'new', '2.host'), mail({ 'Message-ID': '<md2@c.example>' }));
    writeFileSync(path.join(md, 'tmp', '3.host'), 'half-written');
    expect(await importPath(md, { pipeline: t.pipeline, logger: silentLogger() })).toEqual({
      imported: 2,
      duplicates: 0,
      parseErrors: 0,
      failed: 0,
    });
  });

  it('an mbox is split into its messages as it streams, with >From quoting undone', async () => {
    const t = setup();
    const file = path.join(t.dir, 'archive.mbox');
    writeFileSync(file, mbox(25, 'mb'));
    const msgs: Buffer[] = [];
    for await (const m of readMbox(file)) msgs.push(m);
    expect(msgs).toHaveLength(25);
    expect(msgs[3]?.toString()).toContain('\nFrom the start of a line');
    expect(await importPath(file, { pipeline: t.pipeline, logger: silentLogger() })).toMatchObject({
      imported: 25,
    });
  });

  it('a missing path is a clear error', async () => {
    const t = setup();
    await expect(
      importPath(path.join(t.dir, 'nope'), { pipeline: t.pipeline, logger: silentLogger() }),
    ).rejects.toThrow(/does not exist/);
  });
});

describe('mailroom import (the command)', () => {
  it('--json prints one object with the four counts', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'a.mbox'), mbox(5, 'cli'));
    const r = await cli(['import', path.join(dir, 'a.mbox'), '--json'], dir).done;
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ imported: 5, duplicates: 0, parseErrors: 0, failed: 0 });
    const again = await cli(['import', path.join(dir, 'a.mbox'), '--json'], dir).done;
    expect(JSON.parse(again.stdout)).toEqual({ imported: 0, duplicates: 5, parseErrors: 0, failed: 0 });
  });

  it('accounts status and reprocess run against the same data dir', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'a.mbox'), mbox(2, 'rp'));
    await cli(['import', path.join(dir, 'a.mbox')], dir).done;
    const st = await cli(['accounts', 'status', '--json'], dir).done;
    expect([st.code, JSON.parse(st.stdout)]).toEqual([0, []]);
    const rp = await cli(['reprocess', '--json'], dir).done;
    expect(JSON.parse(rp.stdout)).toEqual({ reprocessed: 2, parseErrors: 0, failed: 0 });
  });

  it('killed (SIGKILL) in the middle of a batch and run again: every message stored exactly once', {
    timeout: 180_000,
  }, async () => {
    const dir = tempDir();
    const n = 3000;
    const file = path.join(dir, 'big.mbox');
    writeFileSync(file, mbox(n, 'kill'));
    const dbFile = path.join(dir, 'mailroom.sqlite');
    const stored = () => {
      try {
        const db = openDatabase(dbFile, { readonly: true });
        try {
          return (db.prepare('SELECT count(*) n FROM messages').get() as { n: number }).n;
        } finally {
          db.close();
        }
      } catch {
        return 0;
      }
    };
    const first = cli(['import', file, '--json'], dir);
    while (stored() < 200) await new Promise((r) => setTimeout(r, 50));
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const before = stored();
    expect(before).toBeLessThan(n);
    const second = await cli(['import', file, '--json'], dir).done;
    const sum = JSON.parse(second.stdout) as ImportSummary;
    expect(sum.imported + sum.duplicates).toBe(n);
    expect(sum.duplicates).toBeGreaterThanOrEqual(before);
    expect(stored()).toBe(n);
    const db = openDatabase(dbFile, { readonly: true });
    expect(db.prepare('SELECT count(DISTINCT message_id) n FROM messages').get()).toEqual({ n });
    db.close();
  });
});
