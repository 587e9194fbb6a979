/**
 * A BullMQ send worker process (what `mailroom worker` runs: createRemoteSendHandler on the
 * BullMQ driver) for the SIGKILL test. Env: REDIS_URL, QUEUE_PREFIX, SMTP_PORT.
 * Prints "ready" on stderr once its worker runs; the test kills it with SIGKILL.
 */
import { silentLogger } from '../../src/lib/index.ts';
import { createRemoteSendHandler, createSmtpTransport, OUTBOUND_QUEUE } from '../../src/outbound/index.ts';
import { createBullmqQueue } from '../../src/queue/bullmq-queue.ts';

const logger = silentLogger();
const queue = createBullmqQueue({
  redisUrl: process.env.REDIS_URL as string,
  prefix: process.env.QUEUE_PREFIX as string,
  logger,
  lockDurationMs: 1500,
  stalledIntervalMs: 500,
});
const transport = createSmtpTransport({
  smtp: {
    host: '127.0.0.1',
    port: Number(process.env.SMTP_PORT),
    tls: 'none',
    max_connections: 1,
    timeout_s: 30,
  },
  logger,
});
queue.work(OUTBOUND_QUEUE, createRemoteSendHandler({ transport, logger }), { concurrency: 1 });
process.stderr.write('ready\n');
