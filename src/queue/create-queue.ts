import type { Clock, Logger } from '../lib/index.ts';
import type { Db } from '../store/index.ts';
import { createEmbeddedQueue } from './embedded-queue.ts';
import type { JobQueue } from './types.ts';

export interface CreateQueueOptions {
  /** When set, jobs go through BullMQ on this Redis; otherwise the embedded SQLite queue. */
  redisUrl?: string | undefined;
  db: Db;
  clock: Clock;
  logger: Logger;
  defaults?: { attempts?: number };
  /** Redis key prefix (BullMQ) — tests use a unique one. */
  prefix?: string;
}

/**
 * The embedded queue, or BullMQ when a Redis URL is given. The BullMQ driver is imported only then:
 * bullmq and ioredis are ~20 MB of RSS that an embedded install never uses.
 */
export async function createQueue(opts: CreateQueueOptions): Promise<JobQueue> {
  if (opts.redisUrl) {
    const { createBullmqQueue } = await import('./bullmq-queue.ts');
    return createBullmqQueue({
      redisUrl: opts.redisUrl,
      logger: opts.logger,
      ...(opts.prefix ? { prefix: opts.prefix } : {}),
      ...(opts.defaults ? { defaults: opts.defaults } : {}),
    });
  }
  return createEmbeddedQueue({
    db: opts.db,
    clock: opts.clock,
    logger: opts.logger,
    ...(opts.defaults ? { defaults: opts.defaults } : {}),
  });
}
