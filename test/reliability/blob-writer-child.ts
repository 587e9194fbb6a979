/**
 * A process that opens the blob store the way every mailroom process does (createBlobStore at
 * start-up, its one log line on stdout) and then, by mode:
 *   open            exits 0 at once
 *   stream <n>      stores a raw message arriving slowly (<n> chunks of 64 KiB, 20 ms apart; n = 0
 *                   means never ending, for a SIGKILL mid-write), prints {"stored": sha256}, exits 0
 * argv: <blob dir> <mode> [n]
 */
import { Readable } from 'node:stream';
import { createBlobStore } from '../../src/ingest/blob-store.ts';
import { createLogger } from '../../src/lib/index.ts';

const [dir, mode, nArg] = process.argv.slice(2);
const logger = createLogger({ level: 'info', pretty: false });
const store = createBlobStore(dir as string, { logger });

if (mode === 'stream') {
  const n = Number(nArg ?? 0);
  let sent = 0;
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const src = new Readable({
    read() {
      if (n > 0 && sent >= n) {
        this.push(null);
        return;
      }
      setTimeout(() => {
        sent++;
        this.push(sent === 1 ? Buffer.concat([Buffer.from('Subject: slow\r\n\r\n'), chunk]) : chunk);
      }, 20);
    },
  });
  const put = await store.putRaw(src);
  process.stdout.write(`${JSON.stringify({ stored: put.sha256 })}\n`);
}
