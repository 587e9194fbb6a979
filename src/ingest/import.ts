import { closeSync, createReadStream, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ErrorCodes, errorMessage, type Logger, MailroomError } from '../lib/index.ts';
import type { IngestPipeline } from './pipeline.ts';

export interface ImportSummary {
  imported: number;
  duplicates: number;
  parseErrors: number;
  failed: number;
}

export interface ImportProgress extends ImportSummary {
  /** Messages handled so far (the sum of the four counts). */
  done: number;
  /** Files found (an mbox counts once, its messages add to `done`). */
  files: number;
  current: string;
}

export interface ImportOptions {
  pipeline: IngestPipeline;
  logger: Logger;
  onProgress?: (p: ImportProgress) => void;
}

function isMbox(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(5);
    readSync(fd, buf, 0, 5, 0);
    return buf.toString('latin1') === 'From ';
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

function listFiles(dir: string): string[] {
  const isMaildir = ['cur', 'new'].every((d) => existsSync(path.join(dir, d)));
  const subdirs = isMaildir ? ['cur', 'new'].map((d) => path.join(dir, d)) : [dir];
  const out: string[] = [];
  for (const d of subdirs) {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith('.')) continue;
      const p = path.join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        // A Maildir++ tree keeps sub-folders as .Name dirs; plain folders nest as they like.
        if (!isMaildir || name !== 'tmp') out.push(...listFiles(p));
      } else if (st.isFile()) out.push(p);
    }
  }
  return out;
}

/**
 * Splits an mbox into messages as it streams (an mbox may be many GB): a message starts at a
 * "From " line at the start of the file or after a blank line. mboxrd quoting (">From ") is
 * undone; each message is a Buffer, only one in memory at a time.
 */
export async function* readMbox(file: string): AsyncGenerator<Buffer> {
  let lines: Buffer[] = [];
  let carry = Buffer.alloc(0);
  let prevBlank = true;
  let started = false;
  const flush = () => {
    // The blank line before the next "From " belongs to the separator, not the message.
    const last = lines[lines.length - 1];
    if (last && /^\r?\n$/.test(last.toString('latin1'))) lines.pop();
    const msg = Buffer.concat(lines);
    lines = [];
    return msg;
  };
  const onLine = function* (line: Buffer): Generator<Buffer> {
    const isSep = prevBlank && line.subarray(0, 5).toString('latin1') === 'From ';
    prevBlank = line.length <= 2 && /^\r?\n?$/.test(line.toString('latin1'));
    if (isSep) {
      if (started && lines.length) yield flush();
      started = true;
      return;
    }
    const m = /^>+From /.exec(line.subarray(0, 64).toString('latin1'));
    lines.push(m ? line.subarray(1) : line);
  };
  for await (const chunk of createReadStream(file)) {
    let buf = carry.length ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    let nl = buf.indexOf(10);
    while (nl >= 0) {
      yield* onLine(buf.subarray(0, nl + 1));
      buf = buf.subarray(nl + 1);
      nl = buf.indexOf(10);
    }
    carry = Buffer.from(buf);
  }
  if (carry.length) yield* onLine(carry);
  if (lines.length) yield flush();
}

/**
 * `mailroom import PATH`: an .eml file, a folder of them, a Maildir or an mbox, through the same
 * pipeline as IMAP. Every message lands in exactly one count; a failure on one (unreadable file)
 * is counted and the import goes on. Re-running an import is safe: what is stored is a duplicate.
 */
export async function importPath(target: string, opts: ImportOptions): Promise<ImportSummary> {
  const abs = path.resolve(target);
  const st = statSync(abs, { throwIfNoEntry: false });
  if (!st)
    throw new MailroomError(
      ErrorCodes.IMPORT_PATH_INVALID,
      `${abs} does not exist; give an .eml file, a folder, a Maildir or an mbox`,
    );
  const files = st.isDirectory() ? listFiles(abs) : [abs];
  const log = opts.logger.child({ component: 'import' });
  const sum: ImportSummary = { imported: 0, duplicates: 0, parseErrors: 0, failed: 0 };
  const report = (current: string) =>
    opts.onProgress?.({
      ...sum,
      done: sum.imported + sum.duplicates + sum.parseErrors + sum.failed,
      files: files.length,
      current,
    });

  const one = async (raw: Buffer | Readable, label: string) => {
    try {
      const r = await opts.pipeline.ingestRaw(raw, { kind: 'import', file: label });
      if (r.status === 'duplicate') sum.duplicates++;
      else if (r.flags.includes('parse_error')) sum.parseErrors++;
      else sum.imported++;
    } catch (err) {
      sum.failed++;
      log.warn({ file: label, err: errorMessage(err) }, 'message not imported');
    }
    report(label);
  };

  for (const file of files) {
    let mbox = false;
    try {
      mbox = isMbox(file);
    } catch {
      mbox = false;
    }
    if (mbox) {
      let n = 0;
      try {
        for await (const msg of readMbox(file)) {
          n++;
          await one(msg, `${file}#${n}`);
        }
      } catch (err) {
        sum.failed++;
        log.warn({ file, err: errorMessage(err) }, 'mbox could not be read to the end');
      }
      continue;
    }
    // Streamed, not read whole: a single .eml can carry a 50 MB attachment.
    await one(createReadStream(file), file);
  }
  return sum;
}
