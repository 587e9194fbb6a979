import { randomInt } from 'node:crypto';
import type { Job, JobQueue } from '../queue/index.ts';
import { prepareCached } from '../store/index.ts';
import { expandCampaign } from './campaign-expand.ts';
import { type BatchResult, type SendJobData, sendBatch, testSend } from './campaign-send.ts';
import { checkThresholds } from './campaign-store.ts';
import { openSlots } from './throttle.ts';
import { type ListsDeps, settingsOf } from './types.ts';

export const SEND_QUEUE = 'list-sends';
export type { SendJobData };

export interface CampaignRunnerOptions {
  deps: ListsDeps;
  queue: JobQueue;
  /** Milliseconds between dispatcher ticks (default 250). */
  tickMs?: number;
  /** Batch jobs a worker process runs at once (default 2; each keeps a few mails in flight). */
  concurrency?: number;
}

export interface CampaignRunner {
  /** One dispatcher pass: start due campaigns, expand, claim rows at the throttle into batches, finish. Returns rows claimed. */
  tick(): Promise<number>;
  /** Registers the batch workers in this process. */
  work(): void;
  /** Re-enqueues batches left `queued` by a crash, then ticks on a timer (the DB-owning process). */
  start(): Promise<void>;
  stop(): void;
  testSend(campaignId: number, addresses: string[]): Promise<number>;
}

/** Recipients per batch job: large enough that the queue's own commits do not count, small enough to finish fast. */
export const BATCH_ROWS = 100;
/**
 * Tries of a batch job. A batch settles its rows one by one and retries temporary failures itself,
 * so its job fails only on errors outside the mail (the database); a process killed mid-batch
 * counts as a try, and a batch may see many kills.
 */
const BATCH_ATTEMPTS = 100;

/** Batch numbers are random: a number is never reused while its finished job id is still kept. */
const newBatch = () => randomInt(1, 2 ** 47);
const jobId = (batch: number) => `cb${batch}`;

export function createCampaignRunner(opts: CampaignRunnerOptions): CampaignRunner {
  const { deps, queue } = opts;
  const { db } = deps;
  const log = deps.logger.child({ component: 'campaigns' });
  const settings = settingsOf(deps);
  // Rows claimed but not sent yet, at most: the dispatcher stays about one second ahead of the
  // senders instead of queueing the whole campaign (pause, cancel and resume stay cheap).
  const maxBacklog = Math.max(2 * settings.dispatchBatch, BATCH_ROWS);
  let timer: NodeJS.Timeout | null = null;
  let ticking = false;

  const enqueue = async (batches: Iterable<number>) => {
    for (const batch of batches)
      await queue.enqueue<SendJobData>(
        SEND_QUEUE,
        'batch',
        { batch },
        { jobId: jobId(batch), attempts: BATCH_ATTEMPTS },
      );
  };

  /** Claims pending rows at the throttle, BATCH_ROWS per batch of one campaign; returns the batches. */
  function claim(now: number): { rows: number; batches: number[] } {
    const backlog = (
      prepareCached(
        db,
        `SELECT count(*) AS n FROM campaign_sends s JOIN campaigns c ON c.id = s.campaign_id
         WHERE c.status = 'running' AND s.status = 'queued'`,
      ).get() as { n: number }
    ).n;
    const room = Math.min(settings.dispatchBatch, maxBacklog - backlog);
    if (room <= 0) return { rows: 0, batches: [] };
    const slots = openSlots(db, now);
    if (slots.left('all', settings.ratePerSecond) === 0) return { rows: 0, batches: [] };
    const rows = prepareCached(
      db,
      `SELECT s.id, s.domain, s.campaign_id FROM campaign_sends s JOIN campaigns c ON c.id = s.campaign_id
       WHERE c.status = 'running' AND s.status = 'pending' AND (s.not_before IS NULL OR s.not_before <= ?)
       ORDER BY s.campaign_id, s.id LIMIT ?`,
    ).all(now, room) as Array<{ id: number; domain: string; campaign_id: number }>;
    const mark = prepareCached(
      db,
      `UPDATE campaign_sends SET status = 'queued', queued_at = ?, batch = ? WHERE id = ? AND status = 'pending'`,
    );
    const batches: number[] = [];
    let claimed = 0;
    db.transaction(() => {
      // Re-read inside the write lock: another dispatcher may have taken slots meanwhile.
      const locked = openSlots(db, now);
      let campaign = 0;
      let batch = 0;
      let inBatch = 0;
      for (const r of rows) {
        if (locked.left(`domain:${r.domain}`, settings.perDomainPerSecond) === 0) continue;
        if (!locked.take('all', settings.ratePerSecond)) break;
        locked.take(`domain:${r.domain}`, settings.perDomainPerSecond);
        if (batch === 0 || campaign !== r.campaign_id || inBatch >= BATCH_ROWS) {
          campaign = r.campaign_id;
          batch = newBatch();
          inBatch = 0;
          batches.push(batch);
        }
        claimed += mark.run(now, batch, r.id).changes;
        inBatch++;
      }
      locked.save();
    }).immediate();
    return { rows: claimed, batches };
  }

  async function tick(): Promise<number> {
    const now = deps.clock.now();
    db.prepare(
      `UPDATE campaigns SET status = 'running', started_at = coalesce(started_at, @now), updated_at = @now
       WHERE status = 'scheduled' AND scheduled_at <= @now`,
    ).run({ now });
    const running = db
      .prepare(`SELECT id, expanded_at FROM campaigns WHERE status = 'running' ORDER BY id`)
      .all() as Array<{
      id: number;
      expanded_at: number | null;
    }>;
    for (const c of running) {
      if (c.expanded_at === null) await expandCampaign(deps, c.id);
      checkThresholds(db, c.id, settings.thresholdMinSample, now);
    }
    const { rows, batches } = claim(now);
    // A crash here leaves rows `queued` in a batch without a job: start() enqueues it again.
    await enqueue(batches);
    const finished = db
      .prepare(
        `UPDATE campaigns SET status = 'done', finished_at = @now, updated_at = @now
         WHERE status = 'running' AND expanded_at IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM campaign_sends s WHERE s.campaign_id = campaigns.id AND s.status IN ('pending', 'queued'))
         RETURNING id`,
      )
      .all({ now }) as Array<{ id: number }>;
    for (const f of finished) log.info({ campaign: f.id }, 'campaign done');
    return rows;
  }

  /** Batches with queued rows (after a crash, or jobs lost with Redis): offered to the queue again. */
  async function requeue(): Promise<number> {
    // Rows queued before batches existed (one job per row) get a batch of their own campaign.
    const legacy = db
      .prepare(`SELECT DISTINCT campaign_id FROM campaign_sends WHERE status = 'queued' AND batch IS NULL`)
      .all() as Array<{ campaign_id: number }>;
    for (const { campaign_id } of legacy)
      db.prepare(
        `UPDATE campaign_sends SET batch = ? WHERE campaign_id = ? AND status = 'queued' AND batch IS NULL`,
      ).run(newBatch(), campaign_id);
    const batches = db
      .prepare(
        `SELECT DISTINCT s.batch FROM campaign_sends s JOIN campaigns c ON c.id = s.campaign_id
         WHERE c.status IN ('running', 'paused') AND s.status = 'queued'`,
      )
      .all() as Array<{ batch: number }>;
    await enqueue(batches.map((b) => b.batch));
    return batches.length;
  }

  return {
    tick,
    work() {
      queue.work<SendJobData, BatchResult>(SEND_QUEUE, (job: Job<SendJobData>) => sendBatch(deps, job.data), {
        concurrency: opts.concurrency ?? 2,
      });
      queue.listen(SEND_QUEUE, {
        failed: (job, error) => {
          const data = job.data as SendJobData;
          const message = error.message.slice(0, 300);
          if (data.batch !== undefined)
            db.prepare(
              `UPDATE campaign_sends SET status = 'failed', error = ? WHERE batch = ? AND status = 'queued'`,
            ).run(message, data.batch);
          else if (data.sendId !== undefined)
            db.prepare(
              `UPDATE campaign_sends SET status = 'failed', error = ? WHERE id = ? AND status = 'queued'`,
            ).run(message, data.sendId);
        },
      });
    },
    async start() {
      const n = await requeue();
      if (n) log.info({ batches: n }, 'campaign batches re-enqueued after restart');
      timer = setInterval(() => {
        if (ticking) return;
        ticking = true;
        tick()
          .catch((e: unknown) => log.error({ err: e }, 'campaign tick failed'))
          .finally(() => {
            ticking = false;
          });
      }, opts.tickMs ?? 250);
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
    testSend: (campaignId, addresses) => testSend(deps, campaignId, addresses),
  };
}
