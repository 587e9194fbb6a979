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
export { PermanentJobError, RetryLaterError } from './types.ts';
