export type { BullmqQueueOptions } from './bullmq-queue.ts';
export { type BullmqJobQueue, bullJobId, bullmqQueuesOf } from './bullmq-surface.ts';
export { type CreateQueueOptions, createQueue } from './create-queue.ts';
export { createEmbeddedQueue, type EmbeddedQueueOptions } from './embedded-queue.ts';
export { backoffDelay } from './retry.ts';
export type {
  Backoff,
  EnqueueOptions,
  Job,
  JobEvents,
  JobHandler,
  JobQueue,
  QueueCounts,
  WorkerOptions,
} from './types.ts';
export { JobNotFinishedError, PermanentJobError, QueueClosedError, RetryLaterError } from './types.ts';
