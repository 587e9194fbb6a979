import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { type Clock, type Logger, randomId } from '../lib/index.ts';
import type { Db } from '../store/index.ts';
import { backoffDelay, isPermanent, retryLaterDelay } from './retry.ts';
import {
  type EnqueueOptions,
  type Job,
  type JobEvents,
  type JobHandler,
  type JobQueue,
  QueueClosedError,
  type QueueCounts,
  type WorkerOptions,
} from './types.ts';

export interface EmbeddedQueueOptions {
  db: Db;
  clock: Clock;
  logger: Logger;
  defaults?: { attempts?: number };
  /** How long a claimed job stays ours without renewal; a dead process's jobs return after it. */
  leaseMs?: number;
  /** Idle poll interval: other processes on the same database enqueue without waking us. */
  pollMs?: number;
  /** Completed and failed jobs are kept this long (so a jobId stays deduplicated), then pruned. */
  retentionMs?: number;
}

interface JobRow {
  queue: string;
  id: string;
  name: string;
  data: string;
  attempt: number;
  max_attempts: number;
  backoff: string | null;
}

interface Running {
  stopping: boolean;
  active: Set<Promise<void>>;
  wake: () => void;
}

const sleep = (ms: number, signal: { wake?: () => void }) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.wake = undefined;
      resolve();
    }
    signal.wake = done;
  });

/**
 * The default queue: jobs in SQLite, workers in this process. Claiming is one UPDATE ... RETURNING
 * in an IMMEDIATE transaction, so several processes on one database never take the same job.
 */
export function createEmbeddedQueue(opts: EmbeddedQueueOptions): JobQueue {
  const { db, clock } = opts;
  const log = opts.logger.child({ component: 'queue', driver: 'embedded' });
  const leaseMs = opts.leaseMs ?? 30_000;
  const pollMs = opts.pollMs ?? 200;
  const retentionMs = opts.retentionMs ?? 7 * 24 * 3600_000;
  const defaultAttempts = opts.defaults?.attempts ?? 8;
  // host/pid in the id let a new process on the same machine tell a dead worker's jobs at once.
  const me = `w${hostname()}/${process.pid}-${randomId(4)}`;
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  const listeners = new Map<string, JobEvents[]>();

  /**
   * Jobs a process on this machine held when it died (SIGKILL, OOM, power cut of the process) go
   * back to waiting now rather than when their lease runs out: a restart resumes at once. The
   * killed try still counts as an attempt, so a job that crashes its worker cannot loop forever.
   * Workers on other machines, or whose id says nothing, keep the lease rule.
   */
  function releaseJobsOfDeadWorkers(): void {
    const rows = db
      .prepare("SELECT DISTINCT worker FROM jobs WHERE state = 'active' AND worker IS NOT NULL")
      .all() as Array<{
      worker: string;
    }>;
    for (const { worker } of rows) {
      const m = /^w(.+)\/(\d+)-[A-Za-z0-9_-]+$/.exec(worker);
      if (!m || m[1] !== hostname() || Number(m[2]) === process.pid || processAlive(Number(m[2]))) continue;
      const n = db
        .prepare(
          `UPDATE jobs SET state = 'waiting', run_at = ?, lease_until = NULL, worker = NULL
           WHERE worker = ? AND state = 'active'`,
        )
        .run(clock.now(), worker).changes;
      if (n) log.info({ worker, jobs: n }, 'took back the jobs of a worker process that died');
    }
  }
  if (!db.readonly) {
    try {
      releaseJobsOfDeadWorkers();
    } catch (e) {
      log.warn({ err: e }, 'could not check for jobs of dead workers; their leases will run out');
    }
  }
  const workers: Running[] = [];
  const timers: NodeJS.Timeout[] = [];
  let closed = false;
  /** Set when close() handed unfinished jobs back: their late outcomes are no longer ours. */
  let released = false;
  const scheduleTimers = new Set<string>();

  // A job id stays taken while the job waits or runs, and for the retention window after it
  // finished (as BullMQ keeps finished jobs): enqueueing it again then does nothing. Once the
  // finished row is older than the window the id is free again, whether or not pruning ran yet.
  const insert = db.prepare(
    `INSERT INTO jobs (queue, id, name, data, state, run_at, max_attempts, backoff, created_at)
     VALUES (@queue, @id, @name, @data, 'waiting', @runAt, @maxAttempts, @backoff, @now)
     ON CONFLICT (queue, id) DO UPDATE SET
       name = excluded.name, data = excluded.data, state = 'waiting', run_at = excluded.run_at,
       attempt = 0, max_attempts = excluded.max_attempts, backoff = excluded.backoff,
       last_error = NULL, result = NULL, lease_until = NULL, worker = NULL,
       created_at = excluded.created_at, finished_at = NULL
     WHERE jobs.state IN ('completed', 'failed') AND jobs.finished_at < @expiredBefore`,
  );
  // `state IN (...)` repeats what the OR says so SQLite searches jobs_ready by (queue, state):
  // without it the plan walks every row of the queue, finished ones included (kept for the
  // retention window), and a claim at 100,000 finished jobs took ~20 ms instead of ~0.05 ms.
  const claim = db.prepare(
    `UPDATE jobs SET state = 'active', attempt = attempt + 1, lease_until = @leaseUntil, worker = @worker
     WHERE rowid IN (
       SELECT rowid FROM jobs
       WHERE queue = @queue AND state IN ('waiting', 'active')
         AND ((state = 'waiting' AND run_at <= @now) OR (state = 'active' AND lease_until < @now))
       ORDER BY run_at LIMIT @limit)
     RETURNING queue, id, name, data, attempt, max_attempts, backoff`,
  );
  const nextRunAt = db.prepare(`SELECT min(run_at) AS t FROM jobs WHERE queue = ? AND state = 'waiting'`);
  const renew = db.prepare(
    `UPDATE jobs SET lease_until = ? WHERE queue = ? AND id = ? AND worker = ? AND state = 'active'`,
  );
  const complete = db.prepare(
    `UPDATE jobs SET state = 'completed', result = ?, finished_at = ?, lease_until = NULL
     WHERE queue = ? AND id = ? AND worker = ? AND state = 'active'`,
  );
  const fail = db.prepare(
    `UPDATE jobs SET state = 'failed', last_error = ?, finished_at = ?, lease_until = NULL
     WHERE queue = ? AND id = ? AND worker = ? AND state = 'active'`,
  );
  const retry = db.prepare(
    `UPDATE jobs SET state = 'waiting', run_at = ?, last_error = ?, lease_until = NULL, attempt = attempt - ?
     WHERE queue = ? AND id = ? AND worker = ? AND state = 'active'`,
  );
  const limitRow = db.prepare('SELECT window_start, used FROM queue_limits WHERE queue = ?');
  const limitSet = db.prepare(
    `INSERT INTO queue_limits (queue, window_start, used) VALUES (?, ?, ?)
     ON CONFLICT (queue) DO UPDATE SET window_start = excluded.window_start, used = excluded.used`,
  );

  /** Claims up to `want` jobs, respecting the persisted rate-limit window. Returns jobs and, when limited, ms to wait. */
  const claimJobs = db.transaction((queue: string, want: number, limiter?: WorkerOptions['limiter']) => {
    const now = clock.now();
    let limit = want;
    let window: { window_start: number; used: number } | undefined;
    if (limiter) {
      window = limitRow.get(queue) as { window_start: number; used: number } | undefined;
      if (!window || now >= window.window_start + limiter.durationMs) window = { window_start: now, used: 0 };
      limit = Math.min(want, limiter.max - window.used);
      if (limit <= 0) return { jobs: [] as JobRow[], waitMs: window.window_start + limiter.durationMs - now };
    }
    const jobs = claim.all({ queue, now, leaseUntil: now + leaseMs, worker: me, limit }) as JobRow[];
    if (limiter && window && jobs.length > 0)
      limitSet.run(queue, window.window_start, window.used + jobs.length);
    return { jobs, waitMs: 0 };
  });

  async function runJob<T, R>(row: JobRow, handler: JobHandler<T, R>): Promise<void> {
    const job: Job<T> = {
      id: row.id,
      queue: row.queue,
      name: row.name,
      data: JSON.parse(row.data) as T,
      attempt: row.attempt,
      maxAttempts: row.max_attempts,
    };
    const keepAlive = setInterval(
      () => {
        try {
          if (db.open && !released) renew.run(clock.now() + leaseMs, row.queue, row.id, me);
        } catch (e) {
          // Busy for a moment: the next renewal (a third of the lease later) tries again.
          log.warn({ queue: row.queue, jobId: row.id, err: e }, 'could not renew a job lease');
        }
      },
      Math.max(1000, leaseMs / 3),
    );
    let result: R | undefined;
    let error: Error | null = null;
    try {
      result = await handler(job);
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
    } finally {
      clearInterval(keepAlive);
    }
    // A job handed back at close belongs to the next start now: recording its outcome here (or
    // telling listeners) would race the process that runs it again.
    if (released || !db.open) return;
    try {
      if (error === null) {
        // Listeners run before the job is marked done: a crash in between re-runs the job rather
        // than losing its result (handlers and listeners are idempotent).
        for (const l of listeners.get(row.queue) ?? []) await l.completed?.(job, result);
        complete.run(
          result === undefined ? null : JSON.stringify(result),
          clock.now(),
          row.queue,
          row.id,
          me,
        );
        return;
      }
      const later = retryLaterDelay(error);
      if (later !== null) {
        retry.run(clock.now() + later, error.message, 1, row.queue, row.id, me);
      } else if (isPermanent(error) || row.attempt >= row.max_attempts) {
        for (const l of listeners.get(row.queue) ?? []) await l.failed?.(job, error);
        fail.run(error.message, clock.now(), row.queue, row.id, me);
        log.warn(
          { queue: row.queue, jobId: row.id, attempt: row.attempt, err: error.message },
          'job failed for good',
        );
      } else {
        const delay = backoffDelay(row.backoff, row.attempt);
        retry.run(clock.now() + delay, error.message, 0, row.queue, row.id, me);
        log.info(
          { queue: row.queue, jobId: row.id, attempt: row.attempt, retryInMs: delay, err: error.message },
          'job will retry',
        );
      }
    } catch (e) {
      // Recording the outcome failed (a listener threw, or the database is busy): the lease runs
      // out and the job runs again.
      log.error({ queue: row.queue, jobId: row.id, err: e }, 'could not record the outcome of a job');
    }
  }

  const prune = db.prepare(`DELETE FROM jobs WHERE state IN ('completed', 'failed') AND finished_at < ?`);
  let prunedAt = Number.NEGATIVE_INFINITY;
  /** At most once a minute: finished jobs older than the retention window free their ids. */
  function pruneFinished(): void {
    const now = clock.now();
    if (now - prunedAt < 60_000) return;
    prunedAt = now;
    prune.run(now - retentionMs);
  }

  const queue: JobQueue = {
    driver: 'embedded',

    async enqueue<T>(name: string, jobName: string, data: T, o: EnqueueOptions = {}): Promise<string> {
      if (closed) throw new QueueClosedError();
      const id = o.jobId ?? randomId();
      const now = clock.now();
      insert.run({
        queue: name,
        id,
        name: jobName,
        data: JSON.stringify(data ?? null),
        runAt: now + (o.delayMs ?? 0),
        maxAttempts: o.attempts ?? defaultAttempts,
        backoff: o.backoff ? JSON.stringify(o.backoff) : null,
        now,
        expiredBefore: now - retentionMs,
      });
      bus.emit(`enqueued:${name}`);
      return id;
    },

    async cancel(name, jobId) {
      const res = db
        .prepare(`DELETE FROM jobs WHERE queue = ? AND id = ? AND state = 'waiting'`)
        .run(name, jobId);
      return res.changes > 0;
    },

    work<T, R>(name: string, handler: JobHandler<T, R>, o: WorkerOptions = {}): void {
      if (closed) throw new QueueClosedError();
      const concurrency = Math.max(1, o.concurrency ?? 1);
      const state: Running = { stopping: false, active: new Set(), wake: () => {} };
      const signal: { wake?: () => void } = {};
      state.wake = () => signal.wake?.();
      bus.on(`enqueued:${name}`, state.wake);
      workers.push(state);
      const loop = async () => {
        while (!state.stopping) {
          const free = concurrency - state.active.size;
          let waitMs = pollMs;
          if (free > 0) {
            let claimed: { jobs: JobRow[]; waitMs: number };
            try {
              // IMMEDIATE: take the write lock up front, so two processes never both read a window
              // or a job as free and then fail on the lock upgrade (SQLITE_BUSY without waiting).
              claimed = claimJobs.immediate(name, free, o.limiter);
              pruneFinished();
            } catch (e) {
              // A busy or locked database must not end the worker: try again after a pause.
              log.warn({ queue: name, err: e }, 'could not claim jobs; will retry');
              await sleep(pollMs, signal);
              continue;
            }
            const { jobs, waitMs: limited } = claimed;
            for (const row of jobs) {
              const p = runJob(row, handler).finally(() => {
                state.active.delete(p);
                state.wake();
              });
              state.active.add(p);
            }
            if (jobs.length > 0) continue;
            // Polled, not slept through: the clock may jump (tests) and other processes share the window.
            if (limited > 0) waitMs = Math.max(1, Math.min(pollMs, limited));
            else {
              const next = (nextRunAt.get(name) as { t: number | null }).t;
              if (next !== null) waitMs = Math.max(1, Math.min(pollMs, next - clock.now()));
            }
          }
          await sleep(waitMs, signal);
        }
      };
      loop().catch((e: unknown) => log.error({ queue: name, err: e }, 'worker loop crashed'));
    },

    listen(name, events) {
      const list = listeners.get(name) ?? [];
      list.push(events as JobEvents);
      listeners.set(name, list);
    },

    async schedule(name, scheduleId, everyMs, jobName, data) {
      if (closed) throw new QueueClosedError();
      db.prepare(
        `INSERT INTO job_schedules (queue, id, name, data, every_ms, next_run_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (queue, id) DO UPDATE SET name = excluded.name, data = excluded.data, every_ms = excluded.every_ms`,
      ).run(name, scheduleId, jobName, JSON.stringify(data ?? null), everyMs, clock.now());
      const tick = db.transaction(() => {
        const s = db
          .prepare('SELECT * FROM job_schedules WHERE queue = ? AND id = ?')
          .get(name, scheduleId) as
          | { name: string; data: string; every_ms: number; next_run_at: number }
          | undefined;
        const now = clock.now();
        if (!s || s.next_run_at > now) return false;
        // One job per slot, with an id derived from the slot: two processes ticking the same
        // schedule insert the same row once.
        insert.run({
          queue: name,
          id: `${scheduleId}-${s.next_run_at}`,
          name: s.name,
          data: s.data,
          runAt: now,
          maxAttempts: 1,
          backoff: null,
          now,
          expiredBefore: now - retentionMs,
        });
        db.prepare('UPDATE job_schedules SET next_run_at = ? WHERE queue = ? AND id = ?').run(
          Math.max(s.next_run_at + s.every_ms, now + 1),
          name,
          scheduleId,
        );
        return true;
      });
      const run = () => {
        if (closed) return;
        try {
          if (tick.immediate()) bus.emit(`enqueued:${name}`);
          pruneFinished();
        } catch (e) {
          log.warn({ queue: name, scheduleId, err: e }, 'schedule tick failed');
        }
      };
      run();
      // One timer per schedule in this process, however often schedule() is called for it.
      const key = `${name}\u0000${scheduleId}`;
      if (scheduleTimers.has(key)) return;
      scheduleTimers.add(key);
      timers.push(setInterval(run, Math.max(50, Math.min(everyMs, 1000))));
    },

    async counts(name): Promise<QueueCounts> {
      const now = clock.now();
      const rows = db
        .prepare(
          `SELECT CASE WHEN state = 'waiting' AND run_at > ? THEN 'delayed' ELSE state END AS s, count(*) AS n
           FROM jobs WHERE queue = ? GROUP BY s`,
        )
        .all(now, name) as { s: keyof QueueCounts; n: number }[];
      const out: QueueCounts = { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 };
      for (const r of rows) out[r.s] = r.n;
      return out;
    },

    async close(timeoutMs = 8000) {
      if (closed) return;
      closed = true;
      for (const t of timers) clearInterval(t);
      for (const w of workers) {
        w.stopping = true;
        w.wake();
      }
      const active = workers.flatMap((w) => [...w.active]);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(active),
        new Promise((r) => {
          timer = setTimeout(r, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      // Jobs still running are handed back (their attempt not counted) for the next process.
      released = true;
      const handedBack = db
        .prepare(
          `UPDATE jobs SET state = 'waiting', lease_until = NULL, worker = NULL, attempt = max(0, attempt - 1)
           WHERE worker = ? AND state = 'active'`,
        )
        .run(me).changes;
      if (handedBack > 0) log.info({ released: handedBack }, 'released unfinished jobs for the next start');
      bus.removeAllListeners();
    },
  };
  return queue;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
