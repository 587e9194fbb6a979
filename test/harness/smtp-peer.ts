import { SMTPServer, type SMTPServerSession } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  receivedAt: number;
}

export type Fault =
  | { kind: 'reply'; stage: 'mail' | 'rcpt' | 'data'; code: number; message?: string; times?: number }
  | { kind: 'drop-mid-data'; times?: number }
  | { kind: 'stall'; ms: number; times?: number };

export interface SmtpPeer {
  host: string;
  port: number;
  received: ReceivedMail[];
  /** DATA streams that reached their end (the sender has handed over every byte), replied to or not. */
  readonly dataEnds: number;
  /** Next sessions misbehave as told; each fault applies `times` times (default forever). */
  setFaults(faults: Fault[]): void;
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

/** A real SMTP server (smtp-server) on loopback that records every accepted message. */
export async function startSmtpPeer(): Promise<SmtpPeer> {
  const received: ReceivedMail[] = [];
  let faults: Array<Fault & { left: number }> = [];
  let dataEnds = 0;
  const take = (pred: (f: Fault) => boolean): Fault | undefined => {
    const f = faults.find((x) => x.left > 0 && pred(x));
    if (f) f.left -= 1;
    return f;
  };
  const socketOf = (session: SMTPServerSession): { destroy(): void } | undefined => {
    const conns = (server as unknown as { connections: Set<{ id?: string; _socket?: { destroy(): void } }> })
      .connections;
    for (const c of conns) if (c.id === session.id) return c._socket;
    return undefined;
  };
  const fail = (code: number, message = 'test fault') =>
    Object.assign(new Error(message), { responseCode: code });

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 100 * 1024 * 1024,
    onMailFrom(_addr, _session, cb) {
      const f = take((x) => x.kind === 'reply' && x.stage === 'mail');
      cb(f && f.kind === 'reply' ? fail(f.code, f.message) : undefined);
    },
    onRcptTo(_addr, _session, cb) {
      const f = take((x) => x.kind === 'reply' && x.stage === 'rcpt');
      cb(f && f.kind === 'reply' ? fail(f.code, f.message) : undefined);
    },
    onData(stream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      const drop = take((x) => x.kind === 'drop-mid-data');
      const stall = take((x) => x.kind === 'stall');
      const dataFault = take((x) => x.kind === 'reply' && x.stage === 'data');
      stream.on('data', (c: Buffer) => {
        chunks.push(c);
        if (drop) {
          // Cut the TCP connection in the middle of DATA, as a crashing peer would. The socket
          // belongs to smtp-server's connection object (the session has none): find it by session id.
          socketOf(session)?.destroy();
          stream.destroy();
        }
      });
      stream.on('end', () => {
        dataEnds++;
        const finish = () => {
          if (dataFault && dataFault.kind === 'reply') return cb(fail(dataFault.code, dataFault.message));
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
            receivedAt: Date.now(),
          });
          cb(null, 'Ok: queued');
        };
        if (stall && stall.kind === 'stall') setTimeout(finish, stall.ms);
        else finish();
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    host: '127.0.0.1',
    port,
    received,
    get dataEnds() {
      return dataEnds;
    },
    setFaults(list) {
      faults = list.map((f) => ({ ...f, left: f.times ?? Number.POSITIVE_INFINITY }));
    },
    async waitFor(count, timeoutMs = 15000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline)
          throw new Error(`SMTP peer got ${received.length} of ${count} mails in ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return received;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
