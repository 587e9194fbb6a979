import { SMTPServer } from 'smtp-server';

export interface MailCatcher {
  host: string;
  port: number;
  caught: Array<{ from: string; to: string[]; raw: string; at: number }>;
  close(): Promise<void>;
}

/** An SMTP server on loopback that keeps what it is sent, so the demo never mails the world. */
export async function startMailCatcher(): Promise<MailCatcher> {
  const caught: MailCatcher['caught'] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        caught.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        });
        cb(null);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.server.address();
  return {
    host: '127.0.0.1',
    port: typeof addr === 'object' && addr ? addr.port : 0,
    caught,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
