import type { Job, JobEvents, JobHandler, JobQueue } from '../../src/queue/index.ts';

/**
 * A tiny in-process JobQueue for the lists tests until src/queue's createQueue lands: runs jobs in
 * order, one at a time per queue, with jobId dedupe while waiting and the attempts/failed contract.
 */
export function memoryQueue(
  opts: { retryDelayMs?: number } = {},
): JobQueue & { drain(): Promise<void>; retryParked(): void } {
  const waiting = new Map<string, Array<Job>>();
  const ids = new Set<string>();
  const handlers = new Map<string, JobHandler>();
  const events = new Map<string, JobEvents>();
  let seq = 0;
  const parked: Job[] = [];
  let running: Promise<void> = Promise.resolve();
  let closed = false;

  const pump = (queue: string) => {
    running = running.then(async () => {
      const h = handlers.get(queue);
      const list = waiting.get(queue) ?? [];
      while (h && list.length && !closed) {
        const job = list.shift() as Job;
        ids.delete(job.id);
        try {
          const r = await h(job);
          await events.get(queue)?.completed?.(job, r);
        } catch (e) {
          if ((e as Error).name === 'RetryLaterError') {
            // Parked until the next enqueue/work/retry call wakes this queue (tests resume by hand).
            parked.push(job);
            continue;
          }
          if (job.attempt < job.maxAttempts) {
            if (opts.retryDelayMs) await new Promise((r) => setTimeout(r, opts.retryDelayMs));
            list.unshift({ ...job, attempt: job.attempt + 1 });
          } else await events.get(queue)?.failed?.(job, e as Error);
        }
      }
    });
  };

  return {
    driver: 'embedded',
    async enqueue(queue, name, data, opts) {
      const id = opts?.jobId ?? `m${++seq}`;
      if (ids.has(id)) return id;
      ids.add(id);
      const list = waiting.get(queue) ?? [];
      waiting.set(queue, list);
      list.push({ id, queue, name, data, attempt: 1, maxAttempts: opts?.attempts ?? 3 });
      pump(queue);
      return id;
    },
    async cancel() {
      return false;
    },
    work(queue, handler) {
      handlers.set(queue, handler as JobHandler);
      pump(queue);
    },
    listen(queue, ev) {
      events.set(queue, ev as JobEvents);
    },
    async schedule() {},
    async counts(queue) {
      return { waiting: waiting.get(queue)?.length ?? 0, active: 0, delayed: 0, completed: 0, failed: 0 };
    },
    async close() {
      closed = true;
      await running;
    },
    async drain() {
      await running;
    },
    /** Runs the jobs a handler asked to retry later (RetryLaterError), as a queue would after the delay. */
    retryParked() {
      for (const job of parked.splice(0)) {
        const list = waiting.get(job.queue) ?? [];
        waiting.set(job.queue, list);
        list.push(job);
        pump(job.queue);
      }
    },
  };
}
