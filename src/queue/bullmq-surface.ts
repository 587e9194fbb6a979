import type { Queue } from 'bullmq';
import type { JobQueue } from './types.ts';

// What the rest of mailroom may know about the BullMQ driver without loading bullmq: the driver
// itself (bullmq-queue.ts) is imported by createQueue only when redis_url is set.

/**
 * BullMQ job ids may not contain ':' nor be all digits (they would clash with its own ids). The
 * mapping is one-to-one (a prefix, '%' and ':' escaped), so two of our ids never share a BullMQ id;
 * callers and handlers only ever see their own id.
 */
export function bullJobId(id: string): string {
  return `m-${id.replace(/%/g, '%25').replace(/:/g, '%3A')}`;
}

/** Our id back from a BullMQ id; ids BullMQ made itself (scheduler runs) pass through unchanged. */
export function ourJobId(bullId: string): string {
  if (!bullId.startsWith('m-')) return bullId;
  return bullId.slice(2).replace(/%3A/g, ':').replace(/%25/g, '%');
}

/**
 * The BullMQ driver's JobQueue plus the one thing dashboards need beyond it: the BullMQ Queue
 * objects themselves (bull-board reads job lists, counts and Redis stats through them).
 */
export interface BullmqJobQueue extends JobQueue {
  readonly driver: 'bullmq';
  /** This process's producer Queue of each name (created on first use, closed by close()). */
  bullQueues(names: readonly string[]): Queue[];
}

/** The BullMQ Queue objects behind these queue names, or null when the queue is not the BullMQ driver. */
export function bullmqQueuesOf(queue: JobQueue, names: readonly string[]): Queue[] | null {
  const q = queue as Partial<BullmqJobQueue>;
  return queue.driver === 'bullmq' && typeof q.bullQueues === 'function' ? q.bullQueues(names) : null;
}
