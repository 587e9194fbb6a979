/** The outbound send the lead wires in: renders a template and records it in the outbox once per key. */
export interface SendTemplateInput {
  /** Same key, same mail: the outbox sends it at most once. */
  idempotencyKey: string;
  template: string;
  locale: string;
  to: string;
  data: Record<string, unknown>;
  /** null for staff mail (an SLA escalation), which belongs to no customer. */
  customerId: number | null;
  kind: 'transactional' | 'marketing';
  /** Follow-ups only: the conversation the mail continues, so outbound can thread it as a reply. */
  conversationId?: number;
}

export type SendTemplateFn = (input: SendTemplateInput) => Promise<void>;

export type StepName = 'confirmation' | 'payment_reminder' | 'follow_up' | 'review_request';

export type StepJob =
  | {
      stepKey: string;
      step: 'confirmation' | 'payment_reminder' | 'review_request';
      orderId: number;
      n: number;
    }
  | { stepKey: string; step: 'follow_up'; conversationId: number; messageId: number };

export interface StepOutcome {
  status: 'sent' | 'task' | 'skipped' | 'cancelled' | 'deferred' | 'done-before';
  reason?: string;
}

export const AUTOMATIONS_QUEUE = 'automations';
