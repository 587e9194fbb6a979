import type { AutomationsConfig } from '../config/index.ts';
import {
  type CustomerRow,
  getOrder,
  type OrderEventType,
  type OrderRow,
  resolveCustomer,
} from '../customers/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import type { Job, JobQueue } from '../queue/index.ts';
import type { Db } from '../store/index.ts';
import { followUpCandidates, followUpStillDue } from './follow-ups.ts';
import { orderMailData } from './mail-data.ts';
import { nextAllowedTime, usableZone } from './quiet-hours.ts';
import { finishStep, getStep, insertStep, scheduledSteps } from './step-store.ts';
import { suppressionFor } from './suppression.ts';
import { AUTOMATIONS_QUEUE, type SendTemplateFn, type StepJob, type StepOutcome } from './types.ts';

const DAY_MS = 86_400_000;

export interface AutomationsDeps {
  db: Db;
  queue: JobQueue;
  clock: Clock;
  logger: Logger;
  config: AutomationsConfig;
  sendTemplate: SendTemplateFn;
  /** Zone for customers without one when automations.time_zone is unset (the lead passes sla.time_zone). */
  defaultTimeZone?: string;
}

export interface Automations {
  /** Schedules the confirmation and the first payment reminder. */
  orderCreated(order: OrderRow): Promise<void>;
  /** Reacts to an applied shop event: cancels reminders, schedules the review request. */
  orderEvent(order: OrderRow, type: OrderEventType): Promise<void>;
  /** Finds conversations waiting on the customer too long and schedules their follow-up. */
  scanFollowUps(): Promise<number>;
  /**
   * Schedules what recent orders (updated within `withinMs`) should have but do not: orders stored
   * without a queue (CLI import) or lost between commit and enqueue. Returns how many it scheduled.
   */
  reconcile(withinMs?: number): Promise<number>;
  /** The queue handler body; exposed so tests and `mailroom worker` call the same code. */
  runStep(data: StepJob): Promise<StepOutcome>;
  /** Starts the worker for the automations queue and the follow-up scan schedule. */
  start(): Promise<void>;
}

export function createAutomations(deps: AutomationsDeps): Automations {
  const { db, queue, clock, config } = deps;
  const log = deps.logger.child({ component: 'automations' });
  const fallbackZone = usableZone(config.time_zone ?? deps.defaultTimeZone, 'UTC');

  const zoneOf = (c: CustomerRow | undefined) => usableZone(c?.time_zone, fallbackZone);
  const localeOf = (c: CustomerRow | undefined, order?: OrderRow) =>
    c?.locale ?? order?.locale ?? config.default_locale;

  async function schedule(job: StepJob, rawDue: number, customer: CustomerRow | undefined): Promise<void> {
    const now = clock.now();
    const fresh = insertStep(
      db,
      {
        step_key: job.stepKey,
        step: job.step,
        order_id: 'orderId' in job ? job.orderId : null,
        conversation_id: 'conversationId' in job ? job.conversationId : null,
        customer_id: customer?.id ?? null,
        due_at: rawDue,
      },
      now,
    );
    if (!fresh && getStep(db, job.stepKey)?.status !== 'scheduled') return;
    const due = nextAllowedTime(Math.max(rawDue, now), zoneOf(customer), config.quiet_hours);
    await queue.enqueue(AUTOMATIONS_QUEUE, job.step, job, {
      jobId: job.stepKey,
      delayMs: Math.max(0, due - now),
    });
    log.debug({ stepKey: job.stepKey, due }, 'automation step scheduled');
  }

  async function cancelSteps(
    order: OrderRow,
    steps: Array<'payment_reminder' | 'review_request'>,
    why: string,
  ) {
    const now = clock.now();
    for (const row of scheduledSteps(db, order.id, steps)) {
      await queue.cancel(AUTOMATIONS_QUEUE, row.step_key);
      finishStep(db, row.step_key, 'cancelled', now, why);
      log.info({ stepKey: row.step_key, why }, 'automation step cancelled');
    }
  }

  function reminderJob(order: OrderRow, n: number): StepJob {
    return { stepKey: `order-${order.id}-reminder-${n}`, step: 'payment_reminder', orderId: order.id, n };
  }

  /** Outside quiet hours, or the step moved to the next allowed time under a new job id. */
  async function deferIfQuiet(data: StepJob, customer: CustomerRow | undefined): Promise<boolean> {
    const now = clock.now();
    const allowed = nextAllowedTime(now, zoneOf(customer), config.quiet_hours);
    if (allowed <= now) return false;
    await queue.enqueue(AUTOMATIONS_QUEUE, data.step, data, {
      jobId: `${data.stepKey}-at-${allowed}`,
      delayMs: allowed - now,
    });
    return true;
  }

  async function deliver(
    data: StepJob,
    customer: CustomerRow,
    template: string,
    mailData: Record<string, unknown>,
    kind: 'transactional' | 'marketing',
    locale: string,
  ): Promise<StepOutcome> {
    const now = clock.now();
    const sup = suppressionFor(db, customer.email, kind);
    if (sup.suppressed) {
      finishStep(db, data.stepKey, 'skipped', now, sup.reason);
      return { status: 'skipped', reason: sup.reason };
    }
    if (await deferIfQuiet(data, customer)) return { status: 'deferred', reason: 'quiet hours' };
    await deps.sendTemplate({
      idempotencyKey: data.stepKey,
      template,
      locale,
      to: customer.email,
      data: mailData,
      customerId: customer.id,
      kind,
      ...('conversationId' in data ? { conversationId: data.conversationId } : {}),
    });
    finishStep(db, data.stepKey, 'sent', clock.now());
    log.info({ stepKey: data.stepKey, template, customerId: customer.id }, 'automation mail sent');
    return { status: 'sent' };
  }

  function skip(key: string, reason: string): StepOutcome {
    finishStep(db, key, 'skipped', clock.now(), reason);
    return { status: 'skipped', reason };
  }

  async function runOrderStep(data: Extract<StepJob, { orderId: number }>): Promise<StepOutcome> {
    const order = getOrder(db, data.orderId);
    if (!order) return skip(data.stepKey, 'order gone');
    const customer = resolveCustomer(db, order.customer_id);
    if (!customer) return skip(data.stepKey, 'customer gone');
    const locale = localeOf(customer, order);
    const base = orderMailData(order, customer, {
      locale,
      timeZone: zoneOf(customer),
      deadlineDays: config.payment_reminder.deadline_days,
    });
    if (data.step === 'confirmation') {
      if (order.status === 'cancelled' || order.status === 'refunded')
        return skip(data.stepKey, `order ${order.status}`);
      return deliver(data, customer, config.confirmation.template, base, 'transactional', locale);
    }
    if (data.step === 'payment_reminder') {
      // The run-time check backs up queue.cancel, which cannot reach a job already running.
      if (order.status !== 'pending') return skip(data.stepKey, `order ${order.status}`);
      const res = await deliver(
        data,
        customer,
        config.payment_reminder.template,
        { ...base, reminder: { number: data.n, of: config.payment_reminder.max } },
        'transactional',
        locale,
      );
      if (res.status === 'sent' && data.n < config.payment_reminder.max) {
        await schedule(
          reminderJob(order, data.n + 1),
          clock.now() + config.payment_reminder.after_days * DAY_MS,
          customer,
        );
      }
      return res;
    }
    if (order.status !== 'delivered') return skip(data.stepKey, `order ${order.status}`);
    return deliver(data, customer, config.review_request.template, base, 'marketing', locale);
  }

  async function runFollowUp(data: Extract<StepJob, { step: 'follow_up' }>): Promise<StepOutcome> {
    const state = followUpStillDue(db, data.conversationId, data.messageId, config.follow_up.max);
    if (!state.due) return skip(data.stepKey, state.reason);
    const customer = resolveCustomer(db, state.customerId);
    if (!customer) return skip(data.stepKey, 'customer gone');
    const asTask =
      config.follow_up.mode === 'task' || config.follow_up.task_departments.includes(state.department);
    if (asTask) {
      const now = clock.now();
      db.prepare(
        `INSERT OR IGNORE INTO tasks (dedupe_key, kind, title, customer_id, conversation_id, created_at)
         VALUES (?, 'follow_up', ?, ?, ?, ?)`,
      ).run(
        data.stepKey,
        `Call the customer: no answer to "${state.subject}" for ${config.follow_up.after_days} days`,
        customer.id,
        data.conversationId,
        now,
      );
      finishStep(db, data.stepKey, 'task', now);
      log.info({ stepKey: data.stepKey, conversationId: data.conversationId }, 'follow-up task created');
      return { status: 'task' };
    }
    const mailData = {
      customer: { name: customer.name, email: customer.email },
      conversation: { id: data.conversationId, subject: state.subject },
    };
    return deliver(data, customer, config.follow_up.template, mailData, 'transactional', localeOf(customer));
  }

  const automations: Automations = {
    async orderCreated(order) {
      if (!config.enabled) return;
      const customer = resolveCustomer(db, order.customer_id);
      if (config.confirmation.enabled) {
        await schedule(
          { stepKey: `order-${order.id}-confirmation`, step: 'confirmation', orderId: order.id, n: 1 },
          clock.now(),
          customer,
        );
      }
      if (config.payment_reminder.enabled && config.payment_reminder.max > 0 && order.status === 'pending') {
        await schedule(
          reminderJob(order, 1),
          order.created_at + config.payment_reminder.after_days * DAY_MS,
          customer,
        );
      }
    },

    async orderEvent(order, type) {
      if (type === 'paid') await cancelSteps(order, ['payment_reminder'], 'order paid');
      if (type === 'shipped') await cancelSteps(order, ['payment_reminder'], 'order shipped');
      if (type === 'cancelled' || type === 'refunded') {
        await cancelSteps(order, ['payment_reminder', 'review_request'], `order ${type}`);
      }
      if (type === 'delivered' && config.enabled && config.review_request.enabled) {
        const at = order.delivered_at ?? clock.now();
        await schedule(
          { stepKey: `order-${order.id}-review-1`, step: 'review_request', orderId: order.id, n: 1 },
          at + config.review_request.after_days * DAY_MS,
          resolveCustomer(db, order.customer_id),
        );
      }
    },

    async scanFollowUps() {
      if (!config.enabled || !config.follow_up.enabled) return 0;
      const cutoff = clock.now() - config.follow_up.after_days * DAY_MS;
      let n = 0;
      for (const c of followUpCandidates(db, cutoff, config.follow_up.max)) {
        const stepKey = `conv-${c.conversationId}-followup-${c.messageId}`;
        if (getStep(db, stepKey)) continue;
        await schedule(
          { stepKey, step: 'follow_up', conversationId: c.conversationId, messageId: c.messageId },
          c.sentAt + config.follow_up.after_days * DAY_MS,
          c.customerId === null ? undefined : resolveCustomer(db, c.customerId),
        );
        n++;
      }
      return n;
    },

    async reconcile(withinMs = 7 * DAY_MS) {
      if (!config.enabled) return 0;
      const since = clock.now() - withinMs;
      const pendingOn =
        config.confirmation.enabled || (config.payment_reminder.enabled && config.payment_reminder.max > 0);
      const find = (status: 'pending' | 'delivered', steps: string) =>
        db
          .prepare(
            `SELECT * FROM orders o WHERE o.updated_at >= ? AND o.status = ?
               AND NOT EXISTS (SELECT 1 FROM automation_steps s WHERE s.order_id = o.id AND s.step IN (${steps}))`,
          )
          .all(since, status) as OrderRow[];
      const pending = pendingOn ? find('pending', "'confirmation', 'payment_reminder'") : [];
      const delivered = config.review_request.enabled ? find('delivered', "'review_request'") : [];
      for (const o of pending) await automations.orderCreated(o);
      for (const o of delivered) await automations.orderEvent(o, 'delivered');
      const n = pending.length + delivered.length;
      if (n > 0) log.info({ orders: n }, 'automations reconciled');
      return n;
    },

    async runStep(data) {
      const row = getStep(db, data.stepKey);
      if (row && row.status !== 'scheduled') return { status: 'done-before', reason: row.status };
      if (!config.enabled) return skip(data.stepKey, 'automations disabled');
      if (data.step === 'follow_up') return runFollowUp(data);
      return runOrderStep(data);
    },

    async start() {
      queue.work<StepJob | Record<string, never>, StepOutcome | number>(
        AUTOMATIONS_QUEUE,
        async (job: Job) => {
          if (job.name === 'scan') {
            // Picks up orders stored without a queue (CLI import) within one scan interval.
            const reconciled = await automations.reconcile();
            return reconciled + (await automations.scanFollowUps());
          }
          return automations.runStep(job.data as StepJob);
        },
      );
      await automations.reconcile();
      if (config.enabled) {
        await queue.schedule(AUTOMATIONS_QUEUE, 'automations-scan', config.scan_every_min * 60_000, 'scan');
      }
    },
  };
  return automations;
}
