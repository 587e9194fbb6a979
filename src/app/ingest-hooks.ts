import type { Config, Department, Urgency } from '../config/index.ts';
import type { BlobStore, ClassifyInput, IngestHooks, StoredMessage } from '../ingest/index.ts';
import type { Logger } from '../lib/index.ts';
import { type Lists, sendTokenFromAddress } from '../lists/index.ts';
import { addSuppression, type OutboxDeps, sendAutoReply, type TemplateRenderer } from '../outbound/index.ts';
import { type Decision, evaluate, type RuleInput, type RulesRuntime, saveDecision } from '../rules/index.ts';
import { getClock, onInbound, onUrgencyChange, type SlaPolicy } from '../sla/index.ts';
import { type Db, prepareCached } from '../store/index.ts';

export interface IngestHookDeps {
  config: Config;
  db: Db;
  logger: Logger;
  rules: RulesRuntime;
  sla: SlaPolicy;
  blobs: BlobStore;
  lists: Lists | null;
  outbox: OutboxDeps | null;
  renderer: TemplateRenderer | null;
  /** Acknowledge mail fed in by `mailroom import` too (the demo does; real imports are history). */
  acknowledgeImports?: boolean;
}

/** Mail that no person is waiting on: it starts no SLA clock and gets no acknowledgement. */
const MACHINE_FLAGS = new Set(['auto_reply', 'bounce', 'bulk', 'loop', 'noreply']);

const URGENCY_RANK: Record<Urgency, number> = { thanks: 0, normal: 1, urgent: 2 };

/** Older mail (by its Date header) gets no acknowledgement when it is finally taken in. */
const ACK_MAX_AGE_MS = 3 * 24 * 3600_000;

function customerFacts(db: Db, customerId: number | null): RuleInput['customer'] {
  if (customerId === null) return undefined;
  const row = prepareCached(db, 'SELECT tags, vip FROM customers WHERE id = ?').get(customerId) as
    | { tags: string; vip: number }
    | undefined;
  if (!row) return undefined;
  let segments: string[] = [];
  try {
    segments = JSON.parse(row.tags) as string[];
  } catch {
    // a malformed tag list reads as none
  }
  return { segments, vip: row.vip === 1 };
}

function ruleInput(db: Db, m: ClassifyInput | StoredMessage, customerId: number | null): RuleInput {
  const input: RuleInput = {
    from: m.from,
    to: m.to,
    cc: m.cc,
    subject: m.subject,
    text: m.text,
    headers: m.headers,
    attachments: m.attachments.map((a) => ({
      ...(a.filename ? { filename: a.filename } : {}),
      contentType: a.contentType,
      size: a.size,
    })),
    size: m.size,
    flags: [...m.flags],
  };
  if (m.fromName) input.fromName = m.fromName;
  if (m.html) input.html = m.html;
  const customer = customerFacts(db, customerId);
  if (customer) input.customer = customer;
  return input;
}

/**
 * Joins ingest to rules, SLA, lists and auto-replies. classify and afterStoreTx run inside the
 * ingest transaction (synchronous SQLite only), so a message, its decision and its SLA clock are
 * committed together; everything that sends mail waits for afterCommit.
 */
export function createIngestHooks(deps: IngestHookDeps): IngestHooks {
  const { db, logger } = deps;
  const log = logger.child({ component: 'ingest-hooks' });
  // classify() and afterStoreTx() run back to back in one synchronous transaction.
  let pending: Decision | null = null;
  const decisions = new Map<number, Decision>();

  return {
    classify(input) {
      pending = evaluate(deps.rules.current(), ruleInput(db, input, input.customerId));
      return { department: pending.department, urgency: pending.urgency, tags: pending.tags };
    },

    afterStoreTx(stored) {
      const decision =
        stored.isNewConversation && pending
          ? pending
          : evaluate(deps.rules.current(), ruleInput(db, stored, stored.customerId));
      pending = null;
      saveDecision(db, {
        messageId: stored.id,
        conversationId: stored.conversationId,
        decision,
        at: stored.receivedAt,
      });
      decisions.set(stored.id, decision);
      if (stored.flags.some((f) => MACHINE_FLAGS.has(f))) return;

      let urgency: Urgency = stored.urgency;
      if (!stored.isNewConversation && URGENCY_RANK[decision.urgency] > URGENCY_RANK[stored.urgency]) {
        // A follow-up may make a conversation more urgent ("still not fixed, ASAP"), never less.
        urgency = decision.urgency;
        prepareCached(db, 'UPDATE conversations SET urgency = ? WHERE id = ?').run(
          urgency,
          stored.conversationId,
        );
        onUrgencyChange(db, deps.sla, stored.conversationId, stored.receivedAt, urgency);
      }
      onInbound(db, deps.sla, stored.conversationId, stored.receivedAt, urgency, stored.department);

      if (stored.isNewConversation) {
        for (const dept of decision.copyTo ?? []) openLinkedConversation(db, deps.sla, stored, dept, urgency);
      }
    },

    async afterCommit(stored) {
      const decision = decisions.get(stored.id);
      decisions.delete(stored.id);
      if (deps.lists) {
        if (
          await deps.lists.handleUnsubscribeMail({
            to: stored.to,
            from: stored.from,
            subject: stored.subject,
          })
        )
          return;
        if (stored.dsn) await applyDsn(deps, stored);
        if ((stored.headers['content-type'] ?? []).some((v) => /feedback-report/i.test(v)))
          await applyArf(deps, stored);
      }
      const imported = stored.source.startsWith('import:');
      // Mail written days before it reached mailroom is history (an account connected with
      // `history: all` or `since`), not a customer waiting for an answer: thanking them now is noise.
      const history =
        !imported && stored.sentAt !== null && stored.receivedAt - stored.sentAt > ACK_MAX_AGE_MS;
      if (decision?.autoReply && history) log.info({ message: stored.id }, 'no acknowledgement for old mail');
      if (
        decision?.autoReply &&
        !history &&
        deps.outbox &&
        deps.renderer &&
        (!imported || deps.acknowledgeImports)
      ) {
        const clock = getClock(db, stored.conversationId);
        const res = await sendAutoReply(
          { ...deps.outbox, renderer: deps.renderer, config: deps.config },
          {
            messageId: stored.id,
            template: decision.autoReply,
            data: clock?.due_at ? { expected_answer_at: clock.due_at } : {},
          },
        );
        if (!res.sent) log.info({ message: stored.id, reason: res.reason }, 'no acknowledgement sent');
      }
    },
  };
}

function openLinkedConversation(
  db: Db,
  sla: SlaPolicy,
  stored: StoredMessage,
  department: Department,
  urgency: Urgency,
): void {
  if (department === stored.department) return;
  const id = Number(
    prepareCached(
      db,
      `INSERT INTO conversations (customer_id, subject, department, urgency, tags, linked_to, created_at, last_message_at, last_inbound_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      stored.customerId,
      stored.subject.slice(0, 998),
      department,
      urgency,
      JSON.stringify(stored.tags),
      stored.conversationId,
      stored.receivedAt,
      stored.receivedAt,
      stored.receivedAt,
    ).lastInsertRowid,
  );
  onInbound(db, sla, id, stored.receivedAt, urgency, department);
}

async function applyDsn(deps: IngestHookDeps, stored: StoredMessage): Promise<void> {
  const token = stored.to.map(sendTokenFromAddress).find((t) => t !== null) ?? null;
  for (const r of stored.dsn?.recipients ?? []) {
    if (r.action && r.action !== 'failed' && r.action !== 'delayed') continue;
    await deps.lists?.applyBounce({
      recipient: r.recipient,
      status: r.status,
      hard: r.kind === 'hard',
      sendToken: token,
    });
    if (r.kind === 'hard') {
      // Service mail stops too after a hard bounce: the address does not exist.
      addSuppression(deps.db, {
        address: r.recipient,
        reason: 'hard_bounce',
        source: `dsn:${stored.id}`,
        detail: r.status || null,
        at: stored.receivedAt,
      });
    }
  }
}

async function applyArf(deps: IngestHookDeps, stored: StoredMessage): Promise<void> {
  const row = prepareCached(deps.db, 'SELECT raw_sha256 FROM messages WHERE id = ?').get(stored.id) as
    | { raw_sha256: string | null }
    | undefined;
  if (!row?.raw_sha256) return;
  const raw = await deps.blobs.readRaw(row.raw_sha256);
  await deps.lists?.applyArfReport(raw.toString('utf8'));
}
