import type { Queue as BullmqQueue } from 'bullmq';
import type { FastifyPluginAsync } from 'fastify';
import type { Config } from '../config/index.ts';
import type { MailboxStatus } from '../ingest/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import type { SlaReport } from '../sla/index.ts';
import type { Db } from '../store/index.ts';
import type { Role } from './auth/users.ts';

export interface ReplyInput {
  conversationId: number;
  author: string;
  text: string;
}

export interface CorrectionInput {
  conversationId: number;
  field: 'department' | 'urgency';
  from: string;
  to: string;
  user: string;
}

export interface QueueCountsRow {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

/**
 * What the web layer needs. Only config, db and logger are required: every collaborator below
 * is optional, and a page whose collaborator is missing says the feature is not wired.
 */
export interface WebDeps {
  config: Config;
  db: Db;
  logger: Logger;
  clock?: Clock;
  /** Queues a staff reply in the outbox (threading headers, sending) and returns its outbox id. */
  sendReply?(input: ReplyInput): Promise<{ outboxId: number | string }>;
  /** Queues a failed or uncertain outgoing mail once more, as it was (src/outbound sendAgain). */
  sendAgain?(input: { outboxId: number; by: string }): Promise<void>;
  /** Canned responses staff can insert into a reply (plain text, in the user's locale when given). */
  cannedReplies?(
    locale: string,
  ): Array<{ name: string; text: string }> | Promise<Array<{ name: string; text: string }>>;
  /** A staff member overrode the rules' department or urgency: the rules report counts these. */
  onCorrection?(input: CorrectionInput): void | Promise<void>;
  /** Anything JSON-like the SLA report wants shown beside the built-in chart. */
  slaReport?(since: number): SlaReport;
  /** Each watched IMAP mailbox: server vs ingested, last poll, last error, UID gaps. */
  mailboxStatus?(): MailboxStatus[];
  queueCounts?(): Promise<Record<string, QueueCountsRow>>;
  /**
   * The BullMQ queues, when the queue driver is BullMQ (null or absent: the embedded queue). With
   * them, admins get the bull-board dashboard at /admin/queues/bull; without, the counts table.
   */
  bullmqQueues?(): BullmqQueue[] | null;
  /** Counters and gauges for GET /metrics, by metric name without the mailroom_ prefix. */
  metrics?(): Record<string, number>;
  rulesStatus?(): { files: string[]; lastError: string | null };
  /**
   * Route plugins mounted behind staff login: each gets a session check, the CSRF check on every
   * POST/PUT/PATCH/DELETE (form field _csrf or header x-csrf-token) and the role check. For other
   * teams' staff pages (e.g. the lists marketer routes) without them knowing about sessions.
   * With `nav`, the staff navigation links to it for those roles (e.g. the demo's caught mail).
   */
  staffPlugins?: Array<{
    prefix: string;
    roles: Role[];
    plugin: FastifyPluginAsync;
    nav?: { href: string; label: string };
  }>;
}
