import type { SendTemplateFn } from '../automations/index.ts';
import type { Config } from '../config/index.ts';
import type { SlaNotice } from '../sla/index.ts';
import type { Db } from '../store/index.ts';

/**
 * Turns an SLA warning or breach into the `sla-escalation` mail to the department's escalation
 * address, with what the template needs: the conversation's reference, subject and link, and who
 * wrote. Staff mail: no customer on the outbox row and no threading into the customer's
 * conversation.
 */
export function slaEscalationNotifier(deps: {
  db: Db;
  config: Config;
  sendTemplate: SendTemplateFn;
}): (n: SlaNotice) => Promise<void> {
  const { db, config, sendTemplate } = deps;
  const load = db.prepare(
    `SELECT c.subject, c.department, c.urgency, cu.email AS customer_email
     FROM conversations c LEFT JOIN customers cu ON cu.id = c.customer_id WHERE c.id = ?`,
  );
  return async (n) => {
    if (!n.escalationTo) return;
    const row = load.get(n.conversationId) as
      | { subject: string; department: string; urgency: string; customer_email: string | null }
      | undefined;
    if (!row) return;
    await sendTemplate({
      idempotencyKey: n.key,
      template: 'sla-escalation',
      locale: 'en',
      to: n.escalationTo,
      data: {
        breached: n.stage === 'breach',
        conversation: {
          id: n.conversationId,
          reference: `MR-${n.conversationId}`,
          subject: row.subject || '(no subject)',
          department: row.department,
          urgency: row.urgency,
          url_path: `/c/${n.conversationId}`,
        },
        customer: { email: row.customer_email ?? 'an unknown sender' },
        due_at: n.dueAt,
        time_zone: config.sla.time_zone,
      },
      customerId: null,
      kind: 'transactional',
    });
  };
}
