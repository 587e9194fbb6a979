/**
 * The one small queue interface every domain uses. Two drivers implement it: the embedded driver
 * (jobs in SQLite, in-process workers; the default) and the BullMQ driver (Redis; set
 * MAILROOM_REDIS_URL). Jobs run at least once: handlers must be idempotent, and real send-once
 * guarantees live in the outbox, not in the queue.
 */
import { ErrorCodes, MailroomError } from '../lib/index.ts';

export interface Backoff {
  type: 'fixed' | 'exponential';
  /** Base delay in milliseconds. */
  delayMs: number;
}

export interface EnqueueOptions {
  /**
   * Dedupe key: enqueueing a job whose id is waiting, delayed or active does nothing and returns the
   * id. A finished (completed or failed) job keeps its id for the retention window (7 days in both
   * drivers), during which enqueueing it again is also a no-op; after that the id runs again. Any
   * string works: the BullMQ driver maps ids it may not use (':' or all digits) one-to-one.
   */
  jobId?: string;
  /**
   * Run the job again even when its id finished within the retention window (its earlier run is
   * replaced): for a deliberate second run, such as staff sending a mail again.
   */
  replaceFinished?: boolean;
  /** Run no earlier than this many milliseconds from now. */
  delayMs?: number;
  /** Total tries including the first (default from config: queue.attempts). */
  attempts?: number;
  backoff?: Backoff;
}

export interface Job<T = unknown> {
  id: string;
  queue: string;
  name: string;
  data: T;
  /** 1 on the first try. */
  attempt: number;
  maxAttempts: number;
  /**
   * What an earlier try of this job recorded with setMark before it died (e.g. 'data_sent').
   * Kept by drivers whose workers may run without the database (BullMQ, in Redis with the job);
   * absent where the driver keeps no marks (embedded: handlers there record their own steps in
   * the same SQLite file as the job).
   */
  mark?: string | null;
  /** Records a mark with the job, durably, before the step it guards. */
  setMark?(mark: string | null): Promise<void>;
  /**
   * Runs `fn` inside the transaction that records this job as completed, so the handler's own
   * closing bookkeeping and the job's completion commit together (one commit for both, and for
   * several jobs finishing at once). Only drivers that keep jobs in the handler's database offer it
   * (embedded); elsewhere the handler writes itself. `fn` runs only if the job completes, must be
   * synchronous, and a throw leaves the job unfinished (it runs again once its lease is out).
   */
  atCompletion?(fn: () => void): void;
}

export interface WorkerOptions {
  concurrency?: number;
  /** At most `max` jobs per `durationMs`, across all workers of this queue. */
  limiter?: { max: number; durationMs: number };
}

/** Thrown by a handler to retry later without counting an attempt (e.g. SMTP 421 rate limiting). */
export class RetryLaterError extends Error {
  override name = 'RetryLaterError';
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
  }
}

/** Thrown by a handler to fail the job at once, with no further attempts (e.g. SMTP 550). */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}

export type JobHandler<T = unknown, R = unknown> = ((job: Job<T>) => Promise<R>) & {
  /**
   * Optional, synchronous: called for each job as it is claimed, inside the claiming transaction,
   * by drivers that keep jobs in the handler's database (embedded), so the handler's "started"
   * bookkeeping commits with the claim instead of in a commit of its own. The handler then gets
   * that same job object, and must cope with a driver that never calls the hook.
   */
  onClaim?: (job: Job<T>) => void;
  /**
   * Optional: the most jobs this handler can usefully run at once in one process (a send handler:
   * the SMTP connections it sends through). Drivers run at most this many, whatever the worker's
   * concurrency: a job fetched beyond it would only wait, holding its lease or lock, while another
   * worker could have run it; and the queue, not the process, is where waiting jobs belong.
   */
  maxConcurrency?: number;
};

export interface JobEvents<R = unknown> {
  /** Called in the process that owns the database once a job completed (possibly on another machine). */
  completed?: (job: Job, result: R) => void | Promise<void>;
  /** Called once a job failed for good (attempts exhausted or PermanentJobError). */
  failed?: (job: Job, error: Error) => void | Promise<void>;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

export interface JobQueue {
  readonly driver: 'embedded' | 'bullmq';
  enqueue<T>(queue: string, name: string, data: T, opts?: EnqueueOptions): Promise<string>;
  /**
   * Adds a job within the caller's open transaction on `db` when the driver keeps its jobs in that
   * very database (embedded): the job then commits, or rolls back, with the caller's own rows, in
   * the same commit. Returns the job id, or null having done nothing when it cannot (jobs live
   * elsewhere, no transaction is open, the queue is closed): the caller enqueues after its commit.
   */
  enqueueInTransaction?<T>(
    db: object,
    queue: string,
    name: string,
    data: T,
    opts?: EnqueueOptions,
  ): string | null;
  /** Removes a waiting or delayed job; returns false when it is not there (already ran, or active). */
  cancel(queue: string, jobId: string): Promise<boolean>;
  /** Starts workers for a queue in this process. */
  work<T, R>(queue: string, handler: JobHandler<T, R>, opts?: WorkerOptions): void;
  /** Listens for results of a queue's jobs, wherever they ran (the SQLite owner records them). */
  listen<R>(queue: string, events: JobEvents<R>): void;
  /** A repeating job (scanners): one schedule per id, survives restarts, never doubled. */
  schedule(queue: string, scheduleId: string, everyMs: number, name: string, data?: unknown): Promise<void>;
  counts(queue: string): Promise<QueueCounts>;
  /** Stops taking work, waits for active jobs up to timeoutMs, then releases them for a later run. */
  close(timeoutMs?: number): Promise<void>;
}

/** Thrown when work is offered to a queue that has been closed (the process is shutting down). */
export class QueueClosedError extends Error {
  override name = 'QueueClosedError';
  readonly code = 'QUEUE_CLOSED';
  constructor() {
    super('the queue is closed: mailroom is shutting down');
  }
}

/**
 * enqueue with replaceFinished found the job id still waiting, running or finishing (its result
 * not recorded yet): nothing was added. The caller may try again in a moment.
 */
export class JobNotFinishedError extends MailroomError {
  constructor(queue: string, jobId: string) {
    super(ErrorCodes.CONFLICT, `job ${jobId} of queue ${queue} has not finished yet; try again in a moment`, {
      queue,
      jobId,
    });
    this.name = 'JobNotFinishedError';
  }
}
