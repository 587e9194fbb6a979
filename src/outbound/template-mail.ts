import type { Department } from '../config/index.ts';
import type { OutboxDeps, QueuedMail } from './outbox.ts';
import { queueMail } from './outbox.ts';
import type { TemplateRenderer } from './templates.ts';

/**
 * The shapes other domains send through (automations' SendTemplateFn, lists' SendFn and RenderFn),
 * on top of the one outbox path, so every mail gets the same headers, outbox row and queue job.
 */

export interface TemplateMailInput {
  idempotencyKey: string;
  template: string;
  locale: string | null | undefined;
  to: string;
  toName?: string | null;
  data: Record<string, unknown>;
  customerId?: number | null;
  conversationId?: number | null;
  department?: Department;
  kind?: 'transactional' | 'marketing';
  /** Mail no person wrote gets Auto-Submitted (RFC 3834); default auto-generated. */
  automatic?: 'auto-generated' | 'auto-replied' | null;
}

export async function queueTemplateMail(
  deps: OutboxDeps & { renderer: TemplateRenderer },
  input: TemplateMailInput,
): Promise<QueuedMail> {
  const r = deps.renderer.renderTemplate(input.template, input.locale, input.data);
  return queueMail(deps, {
    kind: r.template,
    idempotencyKey: input.idempotencyKey,
    to: input.to,
    toName: input.toName ?? null,
    subject: r.subject,
    html: r.html,
    text: r.text,
    category: input.kind ?? 'transactional',
    customerId: input.customerId ?? null,
    conversationId: input.conversationId ?? null,
    department: input.department,
    automatic: input.automatic === undefined ? 'auto-generated' : input.automatic,
  });
}

/** A list/campaign mail already rendered by lists (its List-* headers and VERP sender included). */
export interface ListMailInput {
  to: string;
  subject: string;
  html: string;
  text: string;
  headers: Record<string, string>;
  envelopeFrom?: string;
  idempotencyKey: string;
}

export function queueListMail(deps: OutboxDeps, mail: ListMailInput): Promise<QueuedMail> {
  return queueMail(deps, {
    kind: 'campaign',
    category: 'marketing',
    idempotencyKey: mail.idempotencyKey,
    to: mail.to,
    subject: mail.subject,
    html: mail.html,
    text: mail.text,
    headers: mail.headers,
    envelopeFrom: mail.envelopeFrom,
  });
}
