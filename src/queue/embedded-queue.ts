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
  JobNotFinishedError,
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
  name: string;
  // biome-ignore lint/suspicious/noExplicitAny: workers of any job type share the bookkeeping
  handler: JobHandler<any, any>;
  concurrency: number;
  limiter: WorkerOptions['limiter'];
  stopping: boolean;
  active: Set<Promise<void>>;
  wake: () => void;
  /**
   * Whether a claim may find work: set by an enqueue (or a retry) in this process and by a claim
   * that left ready jobs behind, cleared by one that took all there were. While it is clear, claims
   * wait for pollAt (real time, for other processes' jobs), so the many wake-ups of a busy worker
   * do not each cost an empty claim.
   */
  maybeReady: boolean;
  pollAt: number;
  /** Jobs handed to this worker inside a transaction that has not ended yet (see handOff). */
  handedOff: number;
  /** Jobs whose handler is done and whose outcome waits to commit: their slots are free. */
  freed: number;
}

/** A claimed job ready to run, with what its handler asked to commit with its completion. */
interface Claimed {
  row: JobRow;
  job: Job;
  atCompletion: Array<() => void>;
}

/** A finished job's outcome waiting for the next group commit. */
interface Outcome {
  worker: Running;
  write: () => void;
  settle: (err: unknown) => void;
  /** Group commits of this outcome that failed (the database busy past its timeout, say). */
  failures: number;
}

/** A group commit that fails is tried again this many times, 200 ms apart, before its outcomes fail. */
const OUTCOME_TRIES = 3;

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
 * The default queue: jobs in SQLite, workers in this process. Claims run in a write (IMMEDIATE)
 * transaction, so several processes on one database never take the same job. Commits are shared
 * where they can be: a job enqueued inside the caller's transaction goes in with the caller's rows
 * (and straight to an idle worker here, claimed in that same transaction); outcomes of jobs that
 * finish together, the handlers' atCompletion writes and the next claims commit as one group.
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
  // A claim picks its jobs with two reads, each searching jobs_ready by (queue, state) (the plan
  // must never walk the finished jobs kept for the retention window: a claim at 100,000 of them
  // took ~20 ms that way instead of ~0.05 ms), then takes them one by one by rowid. Run inside a
  // write (IMMEDIATE) transaction, so no other process can take them in between. This costs less
  // than one UPDATE ... WHERE rowid IN (SELECT ... ORDER BY ...) RETURNING, which builds two
  // temporary tables per claim.
  const expiredLeases = db.prepare(
    `SELECT rowid AS r, run_at AS t FROM jobs WHERE queue = ? AND state = 'active' AND lease_until < ? LIMIT ?`,
  );
  // One more than asked for: whether more is ready comes with the same read.
  const readyJobs = db.prepare(
    `SELECT rowid AS r, run_at AS t FROM jobs WHERE queue = ? AND state = 'waiting' AND run_at <= ?
     ORDER BY run_at LIMIT ?`,
  );
  const claimRow = db.prepare(
    `UPDATE jobs SET state = 'active', attempt = attempt + 1, lease_until = @leaseUntil, worker = @worker
     WHERE rowid = @r AND (state = 'waiting' OR (state = 'active' AND lease_until < @now))
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

  /**
   * Claims up to `want` jobs for a worker, respecting the persisted rate-limit window, inside the
   * caller's transaction; the handler's onClaim hook runs for each job in that same transaction.
   * Returns the jobs and, when limited, ms to wait.
   */
  function claimFor(w: Running, want: number): { jobs: Claimed[]; waitMs: number } {
    const now = clock.now();
    let limit = want;
    let window: { window_start: number; used: number } | undefined;
    const { limiter } = w;
    if (limiter) {
      window = limitRow.get(w.name) as { window_start: number; used: number } | undefined;
      if (!window || now >= window.window_start + limiter.durationMs) window = { window_start: now, used: 0 };
      limit = Math.min(want, limiter.max - window.used);
      if (limit <= 0) return { jobs: [], waitMs: window.window_start + limiter.durationMs - now };
    }
    // Jobs of dead workers (their lease ran out) and ready jobs, oldest run_at first.
    const candidates = [
      ...(expiredLeases.all(w.name, now, limit) as Array<{ r: number; t: number }>),
      ...(readyJobs.all(w.name, now, limit + 1) as Array<{ r: number; t: number }>),
    ].sort((a, b) => a.t - b.t);
    const rows: JobRow[] = [];
    for (const { r } of candidates.slice(0, limit)) {
      const row = claimRow.get({ r, now, leaseUntil: now + leaseMs, worker: me }) as JobRow | undefined;
      if (row) rows.push(row);
    }
    if (limiter && window && rows.length > 0)
      limitSet.run(w.name, window.window_start, window.used + rows.length);
    // All that was ready fitted: nothing more is, until an enqueue here or the next poll.
    w.maybeReady = candidates.length > limit;
    const jobs = rows.map((row) => toClaimed(row));
    for (const c of jobs) claimHook(w, c);
    return { jobs, waitMs: 0 };
  }
  /** The handler's onClaim, in the claiming transaction (in a savepoint of its own). */
  function claimHook(w: Running, c: Claimed): void {
    const onClaim = w.handler.onClaim;
    if (!onClaim) return;
    try {
      savepoint(() => onClaim(c.job));
    } catch (e) {
      // The claim stands: the handler runs and does its own checks.
      log.warn({ queue: w.name, jobId: c.job.id, err: e }, 'the claim hook of a job failed');
    }
  }
  const claimJobs = db.transaction(claimFor);
  /** A nested transaction (SAVEPOINT): one job's writes stand or fall together inside a batch. */
  const savepoint = db.transaction((fn: () => void) => fn());

  function toClaimed(row: JobRow): Claimed {
    const atCompletion: Array<() => void> = [];
    const job: Job = {
      id: row.id,
      queue: row.queue,
      name: row.name,
      data: JSON.parse(row.data),
      attempt: row.attempt,
      maxAttempts: row.max_attempts,
      atCompletion: (fn) => void atCompletion.push(fn),
    };
    return { row, job, atCompletion };
  }

  /**
   * Group commit of job outcomes: a job's completion (with its handler's atCompletion writes), retry
   * or failure waits for the next turn of the event loop, and every outcome that arrived meanwhile
   * commits in one transaction, each in its own savepoint. The same transaction claims the next
   * jobs for the slots those outcomes free, so a busy worker spends one commit per batch on the
   * queue's side instead of two per job. A job is only counted done once its outcome committed.
   */
  let outcomes: Outcome[] = [];
  let flushScheduled = false;
  function recordOutcome(worker: Running, write: () => void): Promise<void> {
    // The handler is done: its slot may take the next job while the outcome waits to commit.
    worker.freed += 1;
    return new Promise((resolve, reject) => {
      const settle = (err: unknown) => {
        worker.freed -= 1;
        if (err === null) resolve();
        else reject(err);
      };
      outcomes.push({ worker, write, settle, failures: 0 });
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushOutcomes);
      }
    });
  }
  const writeOutcomes = db.transaction((batch: Outcome[]) => {
    // Each outcome in its own savepoint: null where it was written, else why not.
    const errors = batch.map((o) => {
      try {
        savepoint(o.write);
        return null;
      } catch (e) {
        return e ?? new Error('outcome write failed');
      }
    });
    const claimed: Array<[Running, Claimed[]]> = [];
    for (const w of new Set(batch.map((o) => o.worker))) {
      const free = w.concurrency - w.active.size - w.handedOff + w.freed;
      if (w.stopping || closed || free <= 0 || !w.maybeReady) continue;
      try {
        // Nested: a savepoint inside this batch.
        const { jobs } = claimJobs(w, free);
        if (jobs.length > 0) claimed.push([w, jobs]);
      } catch (e) {
        log.warn({ queue: w.name, err: e }, 'could not claim jobs; will retry');
      }
    }
    return { errors, claimed };
  });
  function flushOutcomes(): void {
    flushScheduled = false;
    const batch = outcomes;
    outcomes = [];
    if (batch.length === 0) return;
    if (released || !db.open) {
      for (const o of batch) o.settle(null);
      return;
    }
    let res: ReturnType<typeof writeOutcomes>;
    try {
      res = writeOutcomes.immediate(batch);
    } catch (e) {
      // The outcomes are still here: a send's 'sent' in particular must not be lost to a busy
      // moment (its job would run again and find the mail possibly sent: uncertain). Try again.
      const again = batch.filter((o) => ++o.failures < OUTCOME_TRIES);
      for (const o of batch) if (o.failures >= OUTCOME_TRIES) o.settle(e);
      if (again.length > 0) {
        log.warn({ err: e, outcomes: again.length }, 'could not record job outcomes; trying again');
        outcomes = again.concat(outcomes);
        if (!flushScheduled) {
          flushScheduled = true;
          setTimeout(flushOutcomes, 200).unref();
        }
      }
      return;
    }
    for (const [i, o] of batch.entries()) o.settle(res.errors[i] ?? null);
    for (const [w, jobs] of res.claimed) startJobs(w, jobs);
  }

  function startJobs(w: Running, jobs: Claimed[]): void {
    for (const c of jobs) {
      const p = runJob(c, w).finally(() => {
        w.active.delete(p);
        w.wake();
      });
      w.active.add(p);
    }
  }

  const handOffClaim = db.prepare(
    `UPDATE jobs SET state = 'active', attempt = attempt + 1, lease_until = @leaseUntil, worker = @worker
     WHERE queue = @queue AND id = @id AND state = 'waiting' AND run_at <= @now
     RETURNING queue, id, name, data, attempt, max_attempts, backoff`,
  );
  const jobCreated = db.prepare(
    "SELECT 1 FROM jobs WHERE queue = ? AND id = ? AND created_at = ? AND state = 'active' AND worker = ?",
  );
  /**
   * A job added inside the caller's transaction goes straight to an idle worker of this process
   * when one has a free slot and its last claim found nothing else ready: claimed in that same
   * transaction (with the handler's onClaim), so the claim costs no commit of its own and the
   * caller's fresh rows are still in the pages that commit writes anyway. It starts once that
   * transaction is over, and only if it committed.
   */
  function handOff(name: string, id: string, now: number): [Running, Claimed] | null {
    const w = workers.find(
      (x) =>
        x.name === name &&
        !x.stopping &&
        !x.limiter &&
        !x.maybeReady &&
        x.concurrency - x.active.size - x.handedOff + x.freed > 0,
    );
    if (!w) return null;
    const row = handOffClaim.get({ queue: name, id, now, leaseUntil: now + leaseMs, worker: me }) as
      | JobRow
      | undefined;
    if (!row) return null;
    const c = toClaimed(row);
    claimHook(w, c);
    w.handedOff += 1;
    return [w, c];
  }

  /**
   * After a hand-off: once the caller's transaction is over, start the job if that transaction
   * committed (the job row it added is there); rolled back, the claim went with it.
   */
  function startAfterCallerTransaction(handed: [Running, Claimed], createdAt: number): void {
    const [w, c] = handed;
    const finish = () => {
      if (db.open && db.inTransaction) return void setImmediate(finish);
      w.handedOff -= 1;
      const committed = db.open && jobCreated.get(c.row.queue, c.row.id, createdAt, me) !== undefined;
      // Closing: the job stays claimed, and close() hands it back with the others.
      if (committed && !closed) startJobs(w, [c]);
      else {
        // Rolled back: whatever else is waiting is found by claiming again.
        w.maybeReady = true;
        w.wake();
      }
    };
    queueMicrotask(finish);
  }

  async function runJob(c: Claimed, w: Running): Promise<void> {
    const { row, job } = c;
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
    let result: unknown;
    let error: Error | null = null;
    try {
      result = await w.handler(job);
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
        await recordOutcome(w, () => {
          for (const fn of c.atCompletion) fn();
          complete.run(
            result === undefined ? null : JSON.stringify(result),
            clock.now(),
            row.queue,
            row.id,
            me,
          );
        });
        return;
      }
      const failure = error;
      const later = retryLaterDelay(failure);
      if (later !== null) {
        await recordOutcome(w, () =>
          retry.run(clock.now() + later, failure.message, 1, row.queue, row.id, me),
        );
        // The worker looks again (and learns when this job is due) rather than at its next poll.
        w.maybeReady = true;
      } else if (isPermanent(failure) || row.attempt >= row.max_attempts) {
        for (const l of listeners.get(row.queue) ?? []) await l.failed?.(job, failure);
        await recordOutcome(w, () => fail.run(failure.message, clock.now(), row.queue, row.id, me));
        log.warn(
          { queue: row.queue, jobId: row.id, attempt: row.attempt, err: failure.message },
          'job failed for good',
        );
      } else {
        const delay = backoffDelay(row.backoff, row.attempt);
        await recordOutcome(w, () =>
          retry.run(clock.now() + delay, failure.message, 0, row.queue, row.id, me),
        );
        w.maybeReady = true;
        log.info(
          { queue: row.queue, jobId: row.id, attempt: row.attempt, retryInMs: delay, err: failure.message },
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

  /**
   * Adds a job row (or revives a finished one past retention, or any finished one with
   * replaceFinished). `added` is false when the id was taken and nothing was written.
   */
  function insertJob<T>(name: string, jobName: string, data: T, o: EnqueueOptions, now: number) {
    const id = o.jobId ?? randomId();
    const added =
      insert.run({
        queue: name,
        id,
        name: jobName,
        data: JSON.stringify(data ?? null),
        runAt: now + (o.delayMs ?? 0),
        maxAttempts: o.attempts ?? defaultAttempts,
        backoff: o.backoff ? JSON.stringify(o.backoff) : null,
        now,
        expiredBefore: o.replaceFinished ? Number.MAX_SAFE_INTEGER : now - retentionMs,
      }).changes > 0;
    if (!added && o.replaceFinished) throw new JobNotFinishedError(name, id);
    return { id, added };
  }

  const queue: JobQueue = {
    driver: 'embedded',

    async enqueue<T>(name: string, jobName: string, data: T, o: EnqueueOptions = {}): Promise<string> {
      if (closed) throw new QueueClosedError();
      const { id } = insertJob(name, jobName, data, o, clock.now());
      bus.emit(`enqueued:${name}`);
      return id;
    },

    enqueueInTransaction<T>(
      txDb: object,
      name: string,
      jobName: string,
      data: T,
      o: EnqueueOptions = {},
    ): string | null {
      if (closed || txDb !== db || !db.inTransaction) return null;
      const now = clock.now();
      const { id, added } = insertJob(name, jobName, data, o, now);
      // Only a row this call wrote (not a deduplicated no-op) can tell afterwards whether the
      // caller's transaction committed, which a hand-off needs to know.
      const handed = added && !o.delayMs ? handOff(name, id, now) : null;
      // Workers wake on a later turn of the event loop, after the caller's transaction ended.
      if (handed) startAfterCallerTransaction(handed, now);
      else bus.emit(`enqueued:${name}`);
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
      const state: Running = {
        name,
        handler,
        concurrency: Math.max(
          1,
          Math.min(o.concurrency ?? 1, handler.maxConcurrency ?? Number.POSITIVE_INFINITY),
        ),
        limiter: o.limiter,
        stopping: false,
        active: new Set(),
        wake: () => {},
        maybeReady: true,
        pollAt: 0,
        handedOff: 0,
        freed: 0,
      };
      const signal: { wake?: () => void } = {};
      state.wake = () => signal.wake?.();
      bus.on(`enqueued:${name}`, () => {
        state.maybeReady = true;
        state.wake();
      });
      workers.push(state);
      const loop = async () => {
        while (!state.stopping) {
          const free = state.concurrency - state.active.size - state.handedOff + state.freed;
          let waitMs = pollMs;
          const due = state.pollAt - performance.now();
          if (free > 0 && !state.maybeReady && due > 0) waitMs = due;
          else if (free > 0) {
            let claimed: { jobs: Claimed[]; waitMs: number };
            try {
              // IMMEDIATE: take the write lock up front, so two processes never both read a window
              // or a job as free and then fail on the lock upgrade (SQLITE_BUSY without waiting).
              claimed = claimJobs.immediate(state, free);
              pruneFinished();
            } catch (e) {
              // A busy or locked database must not end the worker: try again after a pause.
              log.warn({ queue: name, err: e }, 'could not claim jobs; will retry');
              await sleep(pollMs, signal);
              continue;
            }
            const { jobs, waitMs: limited } = claimed;
            startJobs(state, jobs);
            if (jobs.length > 0) continue;
            // Polled, not slept through: the clock may jump (tests) and other processes share the window.
            if (limited > 0) waitMs = Math.max(1, Math.min(pollMs, limited));
            else {
              const next = (nextRunAt.get(name) as { t: number | null }).t;
              if (next !== null) waitMs = Math.max(1, Math.min(pollMs, next - clock.now()));
            }
            state.pollAt = performance.now() + waitMs;
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
      // Outcomes of jobs that did finish go in before the rest is handed back.
      flushOutcomes();
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
