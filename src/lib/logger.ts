import { pino } from 'pino';

export type Logger = pino.Logger;

/**
 * Keys whose values never reach a log line, wherever they sit in the logged object.
 * Message bodies are not logged at all: callers log ids, sizes and counts instead.
 */
const REDACT = [
  'password',
  'pass',
  'accessToken',
  'token',
  'secret',
  'sessionSecret',
  'apiKey',
  'authorization',
  'cookie',
  'html',
  'text',
  'body',
  'raw',
  '*.password',
  '*.pass',
  '*.accessToken',
  '*.token',
  '*.secret',
  '*.apiKey',
  '*.authorization',
  '*.cookie',
  '*.html',
  '*.text',
  '*.body',
  '*.raw',
  'auth.*',
  '*.auth.*',
];

export interface LoggerOptions {
  level?: string;
  /** Pretty output for people; defaults to true when stdout is a TTY. */
  pretty?: boolean;
  destination?: pino.DestinationStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.MAILROOM_LOG_LEVEL ?? 'info';
  const pretty = opts.pretty ?? Boolean(process.stdout.isTTY);
  const base: pino.LoggerOptions = {
    level,
    base: { app: 'mailroom' },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (opts.destination) return pino(base, opts.destination);
  if (pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss' } },
    });
  }
  return pino(base);
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
