/**
 * The benchmarks' SMTP peer: a real smtp-server in its own process, so the sender being measured
 * does not share an event loop (or a core) with the server it sends to. Unlike the test harness
 * peer it keeps no message bodies: it reads each DATA stream, checks the header block, and counts
 * per envelope recipient (so duplicates can be counted at 100,000 mails in a few MB). Reverse DNS
 * of the client is off: on a resolver that times out it would stall every new connection for
 * 1.5 s, and both the pooled baseline and mailroom reconnect every 100 mails.
 *
 * Talks to its parent over IPC (see bench/peer.ts): `reset`, `notify` (tell me when N mails have
 * been accepted), `stats`.
 */
import { SMTPServer } from 'smtp-server';
import type { PeerStats } from '../peer.ts';

type Request =
  | { type: 'reset'; requireHeaders?: string[] }
  | { type: 'notify'; id: number; count: number }
  | { type: 'stats'; id: number }
  | { type: 'close' };

const counts = new Map<string, number>();
let accepted = 0;
let duplicates = 0;
let missingHeaders = 0;
let toMismatch = 0;
let bytes = 0;
let firstAt: bigint | null = null;
let lastAt: bigint | null = null;
let required: RegExp[] = [];
let waits: Array<{ id: number; count: number }> = [];

const send = (msg: unknown) => process.send?.(msg);

function stats(): PeerStats {
  return {
    accepted,
    unique: counts.size,
    duplicates,
    missingHeaders,
    toMismatch,
    bytes,
    firstAtNs: firstAt === null ? null : String(firstAt),
    lastAtNs: lastAt === null ? null : String(lastAt),
  };
}

function checkWaits(): void {
  if (waits.length === 0) return;
  const due = waits.filter((w) => accepted >= w.count);
  if (due.length === 0) return;
  waits = waits.filter((w) => accepted < w.count);
  for (const w of due) send({ type: 'notified', id: w.id, stats: stats() });
}

const HEADER_LIMIT = 64 * 1024;

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  disableReverseLookup: true,
  logger: false,
  size: 50 * 1024 * 1024,
  onData(stream, session, cb) {
    let head = '';
    let headDone = false;
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (headDone) return;
      head += c.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end >= 0) {
        head = head.slice(0, end);
        headDone = true;
      } else if (head.length > HEADER_LIMIT) headDone = true;
    });
    stream.on('end', () => {
      const now = process.hrtime.bigint();
      accepted += 1;
      bytes += size;
      firstAt ??= now;
      lastAt = now;
      const unfolded = head.replace(/\r\n[ \t]+/g, ' ');
      if (required.some((re) => !re.test(unfolded))) missingHeaders += 1;
      const toLine = /^to:(.*)$/im.exec(unfolded)?.[1]?.toLowerCase() ?? '';
      for (const r of session.envelope.rcptTo) {
        const addr = r.address.toLowerCase();
        if (!toLine.includes(addr)) toMismatch += 1;
        const n = counts.get(addr) ?? 0;
        if (n > 0) duplicates += 1;
        counts.set(addr, n + 1);
      }
      cb(null, 'Ok: queued');
      checkWaits();
    });
  },
});
server.on('error', () => {});

process.on('message', (m: Request) => {
  switch (m.type) {
    case 'reset':
      counts.clear();
      accepted = duplicates = missingHeaders = toMismatch = bytes = 0;
      firstAt = lastAt = null;
      waits = [];
      required = (m.requireHeaders ?? []).map((h) => new RegExp(`^${h.replace(/[^a-z0-9-]/gi, '')}:`, 'im'));
      send({ type: 'reset-done' });
      break;
    case 'notify':
      waits.push({ id: m.id, count: m.count });
      checkWaits();
      break;
    case 'stats':
      send({ type: 'stats', id: m.id, stats: stats() });
      break;
    case 'close':
      server.close(() => process.exit(0));
      setTimeout(() => process.exit(0), 2000).unref();
      break;
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  const addr = server.server.address();
  send({ type: 'listening', port: typeof addr === 'object' && addr ? addr.port : 0 });
});
