import type { Job, JobQueue } from '../queue/index.ts';
import { expandCampaign } from './campaign-expand.ts';
import { sendOne, testSend } from './campaign-send.ts';
import { checkThresholds } from './campaign-store.ts';
import { slotsLeft, takeSlot } from './throttle.ts';
import { type ListsDeps, settingsOf } from './types.ts';

export const SEND_QUEUE = 'list-sends';
export interface SendJobData {
  sendId: number;
}

export interface CampaignRunnerOptions {
  deps: ListsDeps;
  queue: JobQueue;
  /** Milliseconds between dispatcher ticks (default 250). */
  tickMs?: number;
  concurrency?: number;
}

export interface CampaignRunner {
  /** One dispatcher pass: start due campaigns, expand, enqueue at the throttle, finish. Returns rows enqueued. */
  tick(): Promise<number>;
  /** Registers the send workers in this process. */
  work(): void;
  /** Re-enqueues rows left `queued` by a crash, then ticks on a timer (the DB-owning process). */
  start(): Promise<void>;
  stop(): void;
  testSend(campaignId: number, addresses: string[]): Promise<number>;
}

const jobId = (sendId: number) => `cs${sendId}`;

export function createCampaignRunner(opts: CampaignRunnerOptions): CampaignRunner {
  const { deps, queue } = opts;
  const { db } = deps;
  const log = deps.logger.child({ component: 'campaigns' });
  const settings = settingsOf(deps);
  let timer: NodeJS.Timeout | null = null;
  let ticking = false;

  const enqueue = async (ids: number[]) => {
    for (const id of ids)
      await queue.enqueue<SendJobData>(SEND_QUEUE, 'send', { sendId: id }, { jobId: jobId(id) });
  };

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
    const picked: number[] = [];
    if (slotsLeft(db, 'all', settings.ratePerSecond, now) > 0) {
      const rows = db
        .prepare(
          `SELECT s.id, s.domain FROM campaign_sends s JOIN campaigns c ON c.id = s.campaign_id
           WHERE c.status = 'running' AND s.status = 'pending' ORDER BY s.campaign_id, s.id LIMIT ?`,
        )
        .all(settings.dispatchBatch) as Array<{ id: number; domain: string }>;
      const mark = db.prepare(`UPDATE campaign_sends SET status = 'queued', queued_at = ? WHERE id = ?`);
      db.transaction(() => {
        for (const r of rows) {
          if (slotsLeft(db, `domain:${r.domain}`, settings.perDomainPerSecond, now) === 0) continue;
          if (!takeSlot(db, 'all', settings.ratePerSecond, now)) break;
          takeSlot(db, `domain:${r.domain}`, settings.perDomainPerSecond, now);
          mark.run(now, r.id);
          picked.push(r.id);
        }
      }).immediate();
      // A crash here leaves rows `queued` without a job: start() enqueues them again.
      await enqueue(picked);
    }
    const finished = db
      .prepare(
        `UPDATE campaigns SET status = 'done', finished_at = @now, updated_at = @now
         WHERE status = 'running' AND expanded_at IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM campaign_sends s WHERE s.campaign_id = campaigns.id AND s.status IN ('pending', 'queued'))
         RETURNING id`,
      )
      .all({ now }) as Array<{ id: number }>;
    for (const f of finished) log.info({ campaign: f.id }, 'campaign done');
    return picked.length;
  }

  async function requeue(): Promise<number> {
    const rows = db
      .prepare(
        `SELECT s.id FROM campaign_sends s JOIN campaigns c ON c.id = s.campaign_id
         WHERE c.status IN ('running', 'paused') AND s.status = 'queued' ORDER BY s.id`,
      )
      .all() as Array<{ id: number }>;
    await enqueue(rows.map((r) => r.id));
    return rows.length;
  }

  return {
    tick,
    work() {
      queue.work<SendJobData, string>(SEND_QUEUE, (job: Job<SendJobData>) => sendOne(deps, job.data.sendId), {
        concurrency: opts.concurrency ?? 4,
      });
      queue.listen(SEND_QUEUE, {
        failed: (job, error) => {
          const id = (job.data as SendJobData).sendId;
          db.prepare(
            `UPDATE campaign_sends SET status = 'failed', error = ? WHERE id = ? AND status = 'queued'`,
          ).run(error.message.slice(0, 300), id);
        },
      });
    },
    async start() {
      const n = await requeue();
      if (n) log.info({ rows: n }, 'campaign sends re-enqueued after restart');
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
