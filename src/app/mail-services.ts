import type { SendTemplateFn } from '../automations/index.ts';
import type { Config } from '../config/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import type {
  ComposedListMail,
  DirectCapableSendFn,
  DirectListSender,
  DirectOutcome,
  OutgoingMail,
  RenderFn,
  StagedState,
} from '../lists/index.ts';
import {
  type ComposeSettings,
  composeMail,
  composeSettingsFromConfig,
  createSmtpTransport,
  deliverRaw,
  isHardRecipientFailure,
  isSuppressed,
  markFailed,
  markSent,
  markUncertain,
  type OutboxDeps,
  queueListMail,
  queueTemplateMail,
  SmtpSendError,
  type SmtpSender,
  type TemplateRenderer,
  templateRendererFromConfig,
} from '../outbound/index.ts';
import type { JobQueue } from '../queue/index.ts';
import { type Db, prepareCached } from '../store/index.ts';

export interface MailServices {
  renderer: TemplateRenderer;
  outbox: OutboxDeps;
  /** Automations: render a template for a customer and queue it once per idempotency key. */
  sendTemplate: SendTemplateFn;
  /**
   * Lists: queue an already rendered list mail (confirmations, test sends). Its `direct` sends
   * campaign batches straight to SMTP, exactly once, without the outbound queue hop. Offered with
   * the embedded queue only: on Redis, campaign mail keeps going through outbound jobs, so
   * `mailroom worker` machines share the sending as the scale-out design has it.
   */
  sendListMail: DirectCapableSendFn;
  renderForLists: RenderFn;
}

/** The base URL links in mail point at: web.public_url, else the local web address. */
export function publicUrl(config: Config): string {
  return config.web.public_url ?? `http://${config.web.host}:${config.web.port}`;
}

/** The outbound side every other domain writes through: one renderer, one outbox. */
export function createMailServices(deps: {
  config: Config;
  db: Db;
  queue: JobQueue;
  clock: Clock;
  logger: Logger;
  /**
   * The pooled SMTP transport campaign batches send through; the composition root's own, so one
   * pool (smtp.max_connections, smtp.rate_per_second) serves every mail. Without it the list
   * side opens its own pool from config.smtp when a campaign sends, and closes it when idle.
   */
  transport?: SmtpSender | (() => SmtpSender);
}): MailServices {
  const { config, db, queue, clock, logger } = deps;
  const renderer = templateRendererFromConfig(config, { publicUrl: publicUrl(config) });
  const outbox: OutboxDeps = { db, queue, clock, logger, compose: composeSettingsFromConfig(config) };
  const given = deps.transport;
  const transport: () => SmtpSender =
    typeof given === 'function'
      ? given
      : given
        ? () => given
        : (() => {
            const own = idleClosingTransport(
              () =>
                createSmtpTransport({
                  smtp: config.smtp,
                  password: config.credentials.smtpPassword,
                  logger,
                }),
              2000,
            );
            return () => own;
          })();
  const direct =
    queue.driver !== 'embedded'
      ? undefined
      : createDirectListSender({
          db,
          clock,
          logger,
          compose: outbox.compose,
          transport,
          concurrency: 2 * config.smtp.max_connections,
        });
  return {
    renderer,
    outbox,
    sendTemplate: async (input) => {
      if (isSuppressed(db, input.to, input.kind)) {
        logger.info({ template: input.template, key: input.idempotencyKey }, 'not sent: address suppressed');
        return;
      }
      await queueTemplateMail({ ...outbox, renderer }, input);
    },
    sendListMail: Object.assign(
      async (mail: OutgoingMail) => {
        await queueListMail(outbox, mail);
      },
      direct ? { direct } : {},
    ),
    renderForLists: async (template, locale, data) => renderer.renderTemplate(template, locale, data),
  };
}

/**
 * A pool opened on first use and closed after `idleMs` without a mail, so its sockets never keep
 * a stopping process alive (nothing else closes it).
 */
function idleClosingTransport(create: () => SmtpSender, idleMs: number): SmtpSender {
  let pool: SmtpSender | null = null;
  let busy = 0;
  let timer: NodeJS.Timeout | null = null;
  const close = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    pool?.close();
    pool = null;
  };
  return {
    async sendRaw(envelope, raw) {
      if (timer) clearTimeout(timer);
      timer = null;
      pool ??= create();
      busy += 1;
      try {
        return await pool.sendRaw(envelope, raw);
      } finally {
        busy -= 1;
        if (busy === 0) {
          timer = setTimeout(() => {
            timer = null;
            if (busy === 0) close();
          }, idleMs);
          timer.unref();
        }
      }
    },
    close,
  };
}

/**
 * Campaign mail straight to SMTP (see DirectListSender in src/lists/campaign-send.ts): the same
 * composition as queueListMail (kind 'campaign', category 'marketing'), the same outbox row and
 * the same stages as the outbound send job, minus its queue. The outbox upsert here mirrors
 * src/outbound's outbox.ts insertRow until outbound offers one that takes a stage.
 */
function createDirectListSender(o: {
  db: Db;
  clock: Clock;
  logger: Logger;
  compose: ComposeSettings;
  transport: () => SmtpSender;
  concurrency: number;
}): DirectListSender {
  const { db, clock, logger } = o;
  // Only a failed attempt's row is taken over: a row in flight, sent or uncertain stays as it is.
  const upsert = (status: 'sending', stage: 'data_sent' | 'none') =>
    prepareCached(
      db,
      `INSERT INTO outbox (kind, category, to_addr, from_addr, envelope_from, subject, message_id, raw, status,
         send_stage, attempts, idempotency_key, created_at, updated_at)
       VALUES ('campaign', 'marketing', @to, @from, @envelopeFrom, @subject, @messageId, @raw, '${status}',
         '${stage}', 1, @key, @now, @now)
       ON CONFLICT (idempotency_key) DO UPDATE SET to_addr = excluded.to_addr, from_addr = excluded.from_addr,
         envelope_from = excluded.envelope_from, subject = excluded.subject, message_id = excluded.message_id,
         raw = excluded.raw, status = excluded.status, send_stage = excluded.send_stage,
         attempts = outbox.attempts + 1, last_response = NULL, updated_at = excluded.updated_at
       WHERE outbox.status = 'failed'
       RETURNING id`,
    );
  const record = (mail: ComposedListMail, key: string, now: number, stage: 'data_sent' | 'none') =>
    (
      upsert('sending', stage).get({
        to: mail.to.toLowerCase(),
        from: mail.from,
        envelopeFrom: mail.envelope.from,
        subject: mail.subject,
        messageId: mail.messageId,
        raw: mail.raw,
        key,
        now,
      }) as { id: number } | undefined
    )?.id ?? null;
  const failure = (outcome: Extract<DirectOutcome, { kind: 'failed' }>) => ({
    responseCode: outcome.responseCode,
    response: outcome.response,
    command: outcome.command,
    code: undefined,
  });

  return {
    concurrency: Math.max(1, o.concurrency),
    async compose(mail) {
      const c = await composeMail(o.compose, {
        to: mail.to,
        subject: mail.subject,
        html: mail.html,
        text: mail.text,
        headers: mail.headers,
        envelopeFrom: mail.envelopeFrom,
        date: new Date(clock.now()),
      });
      return {
        messageId: c.messageId,
        from: c.from,
        to: c.to,
        subject: c.subject,
        envelope: c.envelope,
        raw: c.raw,
      };
    },
    async deliver(mail, beforeLastChunk) {
      let staged = false;
      try {
        const response = await deliverRaw(o.transport(), mail.envelope, mail.raw, () => {
          beforeLastChunk();
          staged = true;
        });
        return { kind: 'sent', response };
      } catch (e) {
        if (!(e instanceof SmtpSendError)) throw e;
        const f = e.failure;
        if (staged && f.responseCode === undefined)
          return { kind: 'uncertain', response: `no reply after DATA: ${f.response}` };
        if (f.responseCode !== undefined && f.responseCode >= 500)
          return {
            kind: 'failed',
            response: e.message,
            responseCode: f.responseCode,
            command: f.command,
            hardRecipient: isHardRecipientFailure(f),
          };
        // A reply code to DATA (or an earlier stage) is definite: the server kept nothing.
        return {
          kind: 'retry',
          response: e.message,
          server: f.responseCode === undefined || f.responseCode === 421,
        };
      }
    },
    stage(mail, key, now) {
      const id = record(mail, key, now, 'data_sent');
      if (id !== null) return { outboxId: id, staged: true };
      const held = prepareCached(db, 'SELECT id FROM outbox WHERE idempotency_key = ?').get(key) as {
        id: number;
      };
      return { outboxId: held.id, staged: false };
    },
    settle(outboxId, outcome, now) {
      switch (outcome.kind) {
        case 'sent':
          markSent(db, clock, outboxId, outcome.response);
          return;
        case 'uncertain':
          markUncertain(db, clock, outboxId, outcome.response);
          return;
        case 'failed':
          markFailed(db, clock, logger, outboxId, failure(outcome));
          return;
        case 'retry':
          prepareCached(
            db,
            `UPDATE outbox SET status = 'failed', send_stage = 'none', last_response = ?, updated_at = ?
             WHERE id = ? AND status = 'sending'`,
          ).run(outcome.response.slice(0, 1000), now, outboxId);
          return;
      }
    },
    refused(mail, key, outcome, now) {
      if (outcome.kind !== 'failed') return;
      const id = record(mail, key, now, 'none');
      if (id !== null) markFailed(db, clock, logger, id, failure(outcome));
    },
    staged: (outboxId) =>
      prepareCached(
        db,
        'SELECT status, send_stage AS stage, sent_at AS sentAt, updated_at AS updatedAt FROM outbox WHERE id = ?',
      ).get(outboxId) as StagedState | undefined,
    presumeDelivered: (outboxId, why) => markUncertain(db, clock, outboxId, why),
  };
}
