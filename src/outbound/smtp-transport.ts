import type { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Config } from '../config/index.ts';
import type { Logger } from '../lib/index.ts';

/**
 * The SMTP side of sending: a small pool of nodemailer SMTP connections, reused across mails, with
 * the connection and rate limits from config.smtp.
 *
 * Why not nodemailer's own pooled transport: it starts reading the message stream as soon as
 * sendMail is called, long before the server has accepted the envelope and said 354. The
 * exactly-once design marks a row 'data_sent' as the last chunk is read; that mark is only true
 * if nothing is read before DATA. SMTPConnection.send pipes the message after 354, so it is.
 */

export interface SmtpSendResult {
  response: string;
  accepted: string[];
  rejected: string[];
}

export interface SmtpSender {
  /** Sends an already composed message as is; the envelope decides who receives it. */
  sendRaw(envelope: { from: string; to: string[] }, raw: Readable): Promise<SmtpSendResult>;
  close(): void;
  /** How many mails it sends at once at most (its pooled connections), when it has such a limit. */
  readonly maxConnections?: number;
}

/** What a failed send tells us, copied from nodemailer's error. */
export interface SmtpFailure {
  responseCode: number | undefined;
  response: string;
  command: string | undefined;
  code: string | undefined;
}

export function smtpFailureOf(err: unknown): SmtpFailure {
  const e = err as {
    responseCode?: unknown;
    response?: unknown;
    command?: unknown;
    code?: unknown;
    message?: unknown;
  };
  return {
    responseCode: typeof e.responseCode === 'number' ? e.responseCode : undefined,
    response: typeof e.response === 'string' ? e.response : String(e.message ?? err),
    command: typeof e.command === 'string' ? e.command : undefined,
    code: typeof e.code === 'string' ? e.code : undefined,
  };
}

export interface SmtpTransportOptions {
  smtp: Pick<Config['smtp'], 'host' | 'port' | 'tls' | 'max_connections' | 'timeout_s'> &
    Partial<Pick<Config['smtp'], 'user' | 'rate_per_second'>>;
  password?: string | undefined;
  logger: Logger;
  /** Mails per connection before it is replaced (servers limit this too). */
  maxMessagesPerConnection?: number;
}

interface Conn {
  c: SMTPConnection;
  sent: number;
  dead: boolean;
}

export function createSmtpTransport(opts: SmtpTransportOptions): SmtpSender {
  const { smtp } = opts;
  const log = opts.logger.child({ component: 'smtp' });
  const maxPerConn = opts.maxMessagesPerConnection ?? 100;
  const idle: Conn[] = [];
  const waiters: Array<() => void> = [];
  let open = 0;
  let closed = false;
  // Per-process rate limit: mail starts are spaced 1/rate seconds apart (the queue limiter caps globally).
  const interval = smtp.rate_per_second ? 1000 / smtp.rate_per_second : 0;
  let nextStart = 0;

  function connect(): Promise<Conn> {
    const c = new SMTPConnection({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.tls === 'implicit',
      requireTLS: smtp.tls === 'starttls',
      ignoreTLS: smtp.tls === 'none',
      connectionTimeout: smtp.timeout_s * 1000,
      greetingTimeout: smtp.timeout_s * 1000,
      socketTimeout: smtp.timeout_s * 1000,
    });
    const conn: Conn = { c, sent: 0, dead: false };
    const drop = () => {
      conn.dead = true;
      const i = idle.indexOf(conn);
      if (i >= 0) {
        idle.splice(i, 1);
        open -= 1;
        wake();
      }
    };
    c.on('error', (err: Error) => {
      log.debug({ err: err.message }, 'smtp connection error');
      drop();
    });
    c.on('end', drop);
    return new Promise((resolve, reject) => {
      // Connection failures (refused, timeout, TLS) arrive as 'error' events, not via the callback.
      c.once('error', reject);
      c.connect(() => {
        const done = (e: Error | null) => {
          c.removeListener('error', reject);
          if (e) reject(e);
          else resolve(conn);
        };
        if (!smtp.user) return done(null);
        c.login({ user: smtp.user, pass: opts.password ?? '' }, (e) => done(e));
      });
    }).then(
      () => conn,
      (e: unknown) => {
        conn.dead = true;
        c.close();
        throw e;
      },
    );
  }

  function wake(): void {
    waiters.shift()?.();
  }

  async function acquire(): Promise<Conn> {
    for (;;) {
      if (closed) throw Object.assign(new Error('the SMTP transport is closed'), { code: 'ECLOSED' });
      const conn = idle.pop();
      if (conn && !conn.dead) return conn;
      if (conn) {
        open -= 1;
        continue;
      }
      if (open < smtp.max_connections) {
        open += 1;
        try {
          return await connect();
        } catch (e) {
          open -= 1;
          wake();
          throw e;
        }
      }
      await new Promise<void>((r) => waiters.push(r));
    }
  }

  function release(conn: Conn, reusable: boolean): void {
    if (!reusable || conn.dead || conn.sent >= maxPerConn || closed) {
      conn.dead = true;
      conn.c.close();
      open -= 1;
    } else idle.push(conn);
    wake();
  }

  async function pace(): Promise<void> {
    if (!interval) return;
    const now = Date.now();
    const start = Math.max(now, nextStart);
    nextStart = start + interval;
    if (start > now) await new Promise((r) => setTimeout(r, start - now));
  }

  return {
    maxConnections: Math.max(1, smtp.max_connections),
    async sendRaw(envelope, raw) {
      await pace();
      const conn = await acquire();
      conn.sent += 1;
      try {
        const info = await new Promise<{ response?: string; accepted?: unknown[]; rejected?: unknown[] }>(
          (resolve, reject) =>
            conn.c.send(envelope, raw, (err, res) => (err ? reject(err) : resolve(res ?? {}))),
        );
        release(conn, true);
        const addr = (x: unknown) =>
          typeof x === 'string' ? x : String((x as { address?: string }).address);
        return {
          response: String(info.response ?? ''),
          accepted: (info.accepted ?? []).map(addr),
          rejected: (info.rejected ?? []).map(addr),
        };
      } catch (e) {
        // After a failed transaction the connection's state is unknown: never reuse it.
        release(conn, false);
        throw e;
      }
    },
    close() {
      closed = true;
      for (const conn of idle.splice(0)) {
        conn.dead = true;
        conn.c.quit();
      }
      open = 0;
      for (const w of waiters.splice(0)) w();
    },
  };
}
