import { type Job as BullJob, DelayedError, Queue, UnrecoverableError, Worker } from 'bullmq';
import { type Logger, randomId } from '../lib/index.ts';
import { type BullmqJobQueue, bullJobId, ourJobId } from './bullmq-surface.ts';
import { isPermanent, retryLaterDelay } from './retry.ts';
import {
  type EnqueueOptions,
  type Job,
  type JobEvents,
  type JobHandler,
  JobNotFinishedError,
  type JobQueue,
  QueueClosedError,
  type QueueCounts,
  type WorkerOptions,
} from './types.ts';

export interface BullmqQueueOptions {
  redisUrl: string;
  logger: Logger;
  /** Key prefix in Redis; tests use a unique one. */
  prefix?: string;
  defaults?: { attempts?: number };
  /**
   * How long a running job's lock lasts without renewal, and how often workers look for jobs whose
   * worker vanished (BullMQ's defaults: 30 s each). Tests shorten them.
   */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

interface ResultMessage {
  kind: 'completed' | 'failed';
  job: Job;
  /** When this run of the job was added: a job id may run again (replaceFinished), its result too. */
  run?: number;
  result?: unknown;
  error?: string;
}

/**
 * The scale-out queue. Workers may run on other machines without the SQLite file, so job results
 * travel back through Redis as jobs of a `<queue>.results` queue, which the database owner works
 * (durably: an event bus would drop results while the owner restarts).
 */
export function createBullmqQueue(opts: BullmqQueueOptions): BullmqJobQueue {
  const log = opts.logger.child({ component: 'queue', driver: 'bullmq' });
  const prefix = opts.prefix ?? 'mailroom';
  const defaultAttempts = opts.defaults?.attempts ?? 8;
  const workerConnection = { url: opts.redisUrl, maxRetriesPerRequest: null };
  // Producers fail fast when Redis is down instead of queueing commands in memory.
  const producerConnection = { url: opts.redisUrl, enableOfflineQueue: false };
  const queues = new Map<string, Queue>();
  const resultQueues = new Map<string, Queue>();
  const workers: Worker[] = [];
  /** Jobs running in this process with their lock tokens, to hand back if close times out. */
  const inFlight = new Map<string, { job: BullJob; token: string | undefined }>();
  let closed = false;
  const handedBack = new Set<string>();

  const queueFor = (name: string): Queue => {
    let q = queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: producerConnection, prefix });
      q.on('error', (e) => log.warn({ queue: name, err: e.message }, 'redis error'));
      queues.set(name, q);
    }
    return q;
  };

  // Results are reported from workers on a connection that waits out a Redis restart (offline
  // queue, unlimited retries) instead of failing the job whose work is already done.
  const resultQueueFor = (name: string): Queue => {
    let q = resultQueues.get(name);
    if (!q) {
      q = new Queue(`${name}.results`, { connection: workerConnection, prefix });
      q.on('error', (e) => log.warn({ queue: name, err: e.message }, 'redis error'));
      resultQueues.set(name, q);
    }
    return q;
  };

  const markOf = (p: unknown): string | null =>
    p && typeof p === 'object' && typeof (p as { mark?: unknown }).mark === 'string'
      ? (p as { mark: string }).mark
      : null;
  const toJob = <T>(j: BullJob, attempts: number): Job<T> => ({
    id: ourJobId(j.id ?? ''),
    queue: j.queueName,
    name: j.name,
    data: j.data as T,
    attempt: j.attemptsMade + 1,
    maxAttempts: attempts,
    // Kept as the job's progress: BullMQ keeps it when a stalled job goes back to wait and
    // on retries, and nothing of ours uses progress otherwise.
    mark: markOf(j.progress),
    setMark: async (mark) => {
      await j.updateProgress({ mark });
    },
  });

  const sendResult = (queue: string, msg: ResultMessage) =>
    resultQueueFor(queue).add(msg.kind, msg, {
      jobId: bullJobId(`${msg.job.id}.${msg.run ?? 0}.${msg.kind}`),
      attempts: 20,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: { age: 7 * 24 * 3600 },
    });

  /** Listeners registered in this process (it owns the database), per queue name. */
  const localListeners = new Map<string, JobEvents[]>();
  const tell = async (events: JobEvents, msg: ResultMessage) => {
    if (msg.kind === 'completed') await events.completed?.(msg.job, msg.result);
    else await events.failed?.(msg.job, new Error(msg.error ?? 'failed'));
  };
  /**
   * A result goes to this process's own listeners directly when it has them (a worker beside the
   * database owner, as `mailroom start` runs), before the job completes in Redis, just as it would
   * have been queued before: a crash in between re-runs the job (handlers and listeners are
   * idempotent). That saves the results queue's three round trips per job. Workers elsewhere, and
   * a listener that throws here, report through the results queue (durable, retried).
   */
  const report = async (queue: string, msg: ResultMessage) => {
    const local = localListeners.get(queue);
    if (local && local.length > 0) {
      try {
        for (const events of local) await tell(events, msg);
        return;
      } catch (e) {
        log.warn(
          { queue, jobId: msg.job.id, err: e instanceof Error ? e.message : String(e) },
          'could not record a job result here; reporting it through Redis',
        );
      }
    }
    await sendResult(queue, msg);
  };

  const startWorker = (
    name: string,
    processor: (j: BullJob, token?: string) => Promise<unknown>,
    o: WorkerOptions,
  ) => {
    const w = new Worker(name, processor, {
      connection: workerConnection,
      prefix,
      concurrency: Math.max(1, o.concurrency ?? 1),
      ...(opts.lockDurationMs ? { lockDuration: opts.lockDurationMs } : {}),
      ...(opts.stalledIntervalMs ? { stalledInterval: opts.stalledIntervalMs } : {}),
      // BullMQ fails a job that stalled more than once (default 1) without running our code, so no
      // 'failed' result reaches the database owner. Worker crashes and Redis restarts stall jobs
      // routinely: allow several before giving up.
      maxStalledCount: 5,
      ...(o.limiter ? { limiter: { max: o.limiter.max, duration: o.limiter.durationMs } } : {}),
    });
    w.on('error', (e) => log.warn({ queue: name, err: e.message }, 'worker error'));
    workers.push(w);
  };

  return {
    driver: 'bullmq',

    bullQueues(names) {
      if (closed) throw new QueueClosedError();
      return names.map(queueFor);
    },

    async enqueue<T>(name: string, jobName: string, data: T, o: EnqueueOptions = {}): Promise<string> {
      if (closed) throw new QueueClosedError();
      const id = o.jobId ?? randomId();
      const attempts = o.attempts ?? defaultAttempts;
      if (o.replaceFinished && o.jobId) {
        const earlier = await queueFor(name).getJob(bullJobId(id));
        const state = earlier ? await earlier.getState() : null;
        if (earlier && (state === 'completed' || state === 'failed')) await earlier.remove();
        else if (earlier) throw new JobNotFinishedError(name, id);
      }
      await queueFor(name).add(jobName, data, {
        jobId: bullJobId(id),
        ...(o.delayMs ? { delay: o.delayMs } : {}),
        attempts,
        backoff: o.backoff
          ? { type: o.backoff.type, delay: o.backoff.delayMs }
          : { type: 'exponential', delay: 1000 },
        // Finished jobs stay a week so a jobId keeps deduplicating, like the embedded driver.
        removeOnComplete: { age: 7 * 24 * 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      });
      return id;
    },

    async cancel(name, jobId) {
      const job = await queueFor(name).getJob(bullJobId(jobId));
      if (!job) return false;
      const state = await job.getState();
      if (state !== 'waiting' && state !== 'delayed' && state !== 'prioritized') return false;
      await job.remove();
      return true;
    },

    work<T, R>(name: string, handler: JobHandler<T, R>, o: WorkerOptions = {}): void {
      if (closed) throw new QueueClosedError();
      startWorker(
        name,
        async (j, token) => {
          // BullMQ tries a job once unless told otherwise (scheduler runs carry no attempts).
          const attempts = j.opts.attempts ?? 1;
          const job = toJob<T>(j, attempts);
          const key = `${name}/${j.id}`;
          inFlight.set(key, { job: j, token });
          let outcome: { ok: true; result: R } | { ok: false; err: Error };
          try {
            outcome = { ok: true, result: await handler(job) };
          } catch (e) {
            outcome = { ok: false, err: e instanceof Error ? e : new Error(String(e)) };
          } finally {
            inFlight.delete(key);
          }
          // Handed back at close: the job is someone else's now, and this worker's lock is gone.
          if (handedBack.has(key)) throw new DelayedError();
          // The result is recorded or queued before the job completes: a crash in between re-runs
          // the job (handlers are idempotent) rather than losing the result. A failure to report
          // (Redis down) fails this try, and BullMQ's retry or stalled check runs the job again.
          if (outcome.ok) {
            await report(name, { kind: 'completed', job, run: j.timestamp, result: outcome.result });
            return outcome.result;
          }
          const { err } = outcome;
          const later = retryLaterDelay(err);
          if (later !== null) {
            // Back to delayed without spending an attempt (BullMQ counts only thrown failures).
            await j.moveToDelayed(Date.now() + later, token);
            throw new DelayedError();
          }
          if (isPermanent(err) || job.attempt >= attempts) {
            await report(name, { kind: 'failed', job, run: j.timestamp, error: err.message });
            throw new UnrecoverableError(err.message);
          }
          throw err;
        },
        handler.maxConcurrency
          ? { ...o, concurrency: Math.min(o.concurrency ?? 1, handler.maxConcurrency) }
          : o,
      );
    },

    listen(name, events: JobEvents) {
      const local = localListeners.get(name) ?? [];
      local.push(events);
      localListeners.set(name, local);
      // Results of workers in other processes (and of local ones whose listener threw).
      startWorker(`${name}.results`, async (j) => tell(events, j.data as ResultMessage), { concurrency: 1 });
    },

    async schedule(name, scheduleId, everyMs, jobName, data) {
      if (closed) throw new QueueClosedError();
      await queueFor(name).upsertJobScheduler(
        bullJobId(scheduleId),
        { every: everyMs },
        { name: jobName, data: data ?? null },
      );
    },

    async counts(name): Promise<QueueCounts> {
      const c = await queueFor(name).getJobCounts(
        'waiting',
        'active',
        'delayed',
        'completed',
        'failed',
        'prioritized',
      );
      return {
        waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
        active: c.active ?? 0,
        delayed: c.delayed ?? 0,
        completed: c.completed ?? 0,
        failed: c.failed ?? 0,
      };
    },

    async close(timeoutMs = 8000) {
      if (closed) return;
      closed = true;
      // Stop fetching now; pause(true) does not wait for running jobs (worker.close() would, with
      // no time limit, and a later close(true) only returns that same pending promise).
      await Promise.allSettled(workers.map((w) => w.pause(true)));
      const deadline = Date.now() + timeoutMs;
      while (inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (inFlight.size > 0) {
        // Hand unfinished jobs straight back to the wait list; otherwise they sit locked until
        // BullMQ's stalled-job check (30 s or more) notices this worker is gone.
        const left = [...inFlight.entries()];
        for (const [key] of left) handedBack.add(key);
        await Promise.allSettled(left.map(([, { job, token }]) => job.moveToWait(token)));
        log.info({ released: left.length }, 'released unfinished jobs for the next start');
      }
      await Promise.allSettled(workers.map((w) => w.close(true)));
      await Promise.allSettled([...queues.values(), ...resultQueues.values()].map((q) => q.close()));
    },
  };
}
