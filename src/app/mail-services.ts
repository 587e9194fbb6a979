import type { SendTemplateFn } from '../automations/index.ts';
import type { Config } from '../config/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import type { OutgoingMail, RenderFn } from '../lists/index.ts';
import {
  composeSettingsFromConfig,
  createTemplateRenderer,
  isSuppressed,
  type OutboxDeps,
  queueMail,
  type TemplateRenderer,
} from '../outbound/index.ts';
import type { JobQueue } from '../queue/index.ts';
import type { Db } from '../store/index.ts';

export interface MailServices {
  renderer: TemplateRenderer;
  outbox: OutboxDeps;
  /** Automations: render a template for a customer and queue it once per idempotency key. */
  sendTemplate: SendTemplateFn;
  /** Lists: queue an already rendered list mail (confirmations, campaigns). */
  sendListMail(mail: OutgoingMail): Promise<void>;
  renderForLists: RenderFn;
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
  const renderer = createTemplateRenderer({
    dir: config.paths.templatesDir,
    publicUrl: config.web.public_url,
    defaultTimeZone: config.sla.time_zone,
  });
  const outbox: OutboxDeps = { db, queue, clock, logger, compose: composeSettingsFromConfig(config) };

  const sendTemplate: SendTemplateFn = async (input) => {
    const kind = input.kind === 'marketing' ? 'marketing' : 'transactional';
    if (isSuppressed(db, input.to, kind)) {
      logger.info(
        { to: '[suppressed]', template: input.template, key: input.idempotencyKey },
        'not sent: address suppressed',
      );
      return;
    }
    const rendered = renderer.renderTemplate(input.template, input.locale, input.data);
    await queueMail(outbox, {
      kind: input.template,
      idempotencyKey: input.idempotencyKey,
      category: kind,
      customerId: input.customerId ?? null,
      to: input.to,
      subject: rendered.subject,
      html: rendered.html,
      text: rendered.text,
      automatic: 'auto-generated',
      conversationId: input.conversationId ?? null,
    });
  };

  const sendListMail = async (mail: OutgoingMail): Promise<void> => {
    await queueMail(outbox, {
      kind: 'list',
      idempotencyKey: mail.idempotencyKey,
      category: 'marketing',
      to: mail.to,
      subject: mail.subject,
      html: mail.html,
      text: mail.text,
      headers: mail.headers,
      automatic: 'auto-generated',
      ...(mail.envelopeFrom ? { envelopeFrom: mail.envelopeFrom } : {}),
    });
  };

  const renderForLists: RenderFn = async (template, locale, data) =>
    renderer.renderTemplate(template, locale, data);

  return { renderer, outbox, sendTemplate, sendListMail, renderForLists };
}
