import type { ManualClock } from '../../src/lib/index.ts';
import type { EnqueueOptions, Job, JobHandler, JobQueue, QueueCounts } from '../../src/queue/index.ts';

interface Pending {
  id: string;
  queue: string;
  name: string;
  data: unknown;
  runAt: number;
}

/**
 * A JobQueue on a ManualClock for logic tests: delayed jobs become due when the test advances the
 * clock, and drain() runs them in due order. The real drivers are exercised in queue-driven tests.
 */
export class ClockQueue implements JobQueue {
  readonly driver = 'embedded' as const;
  private pending: Pending[] = [];
  private handlers = new Map<string, JobHandler>();
  private seq = 0;
  readonly ran: Array<{ id: string; name: string; result: unknown }> = [];

  constructor(private clock: ManualClock) {}

  async enqueue<T>(queue: string, name: string, data: T, opts: EnqueueOptions = {}): Promise<string> {
    const id = opts.jobId ?? `j${++this.seq}`;
    if (this.pending.some((p) => p.queue === queue && p.id === id)) return id;
    this.pending.push({ id, queue, name, data, runAt: this.clock.now() + (opts.delayMs ?? 0) });
    return id;
  }
  async cancel(queue: string, jobId: string): Promise<boolean> {
    const before = this.pending.length;
    this.pending = this.pending.filter((p) => !(p.queue === queue && p.id === jobId));
    return this.pending.length < before;
  }
  work<T, R>(queue: string, handler: JobHandler<T, R>): void {
    this.handlers.set(queue, handler as JobHandler);
  }
  listen(): void {}
  async schedule(): Promise<void> {}
  async counts(queue: string): Promise<QueueCounts> {
    const now = this.clock.now();
    const mine = this.pending.filter((p) => p.queue === queue);
    return {
      waiting: mine.filter((p) => p.runAt <= now).length,
      delayed: mine.filter((p) => p.runAt > now).length,
      active: 0,
      completed: this.ran.length,
      failed: 0,
    };
  }
  async close(): Promise<void> {}

  /** Jobs waiting or delayed, soonest first. */
  jobs(): Pending[] {
    return [...this.pending].sort((a, b) => a.runAt - b.runAt);
  }

  /** Runs every job due at the current clock time (and any they enqueue that are due too). */
  async drain(): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      const next = this.jobs().find((p) => p.runAt <= now);
      if (!next) return;
      this.pending = this.pending.filter((p) => p !== next);
      const handler = this.handlers.get(next.queue);
      if (!handler) throw new Error(`no worker for ${next.queue}`);
      const job: Job = { ...next, attempt: 1, maxAttempts: 1 };
      this.ran.push({ id: next.id, name: next.name, result: await handler(job) });
    }
  }

  /** Advances the clock to each due job in turn up to `ms` later, running them. */
  async advance(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    for (;;) {
      const next = this.jobs()[0];
      if (!next || next.runAt > end) break;
      if (next.runAt > this.clock.now()) this.clock.set(next.runAt);
      await this.drain();
    }
    this.clock.set(end);
    await this.drain();
  }
}
