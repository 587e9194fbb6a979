import type { SendTemplateFn } from '../automations/index.ts';
import type { Config } from '../config/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import type { RenderFn, SendFn } from '../lists/index.ts';
import {
  composeSettingsFromConfig,
  isSuppressed,
  type OutboxDeps,
  queueListMail,
  queueTemplateMail,
  type TemplateRenderer,
  templateRendererFromConfig,
} from '../outbound/index.ts';
import type { JobQueue } from '../queue/index.ts';
import type { Db } from '../store/index.ts';

export interface MailServices {
  renderer: TemplateRenderer;
  outbox: OutboxDeps;
  /** Automations: render a template for a customer and queue it once per idempotency key. */
  sendTemplate: SendTemplateFn;
  /** Lists: queue an already rendered list mail (confirmations, campaigns). */
  sendListMail: SendFn;
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
}): MailServices {
  const { config, db, queue, clock, logger } = deps;
  const renderer = templateRendererFromConfig(config, { publicUrl: publicUrl(config) });
  const outbox: OutboxDeps = { db, queue, clock, logger, compose: composeSettingsFromConfig(config) };
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
    sendListMail: async (mail) => {
      await queueListMail(outbox, mail);
    },
    renderForLists: async (template, locale, data) => renderer.renderTemplate(template, locale, data),
  };
}
