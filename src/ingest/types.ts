import type { Department, Urgency } from '../config/index.ts';
import type { MailFlag } from './classify-mail.ts';
import type { Dsn } from './dsn.ts';

export interface IngestConfig {
  mail: {
    domain: string;
    from: string;
    default_department: Department;
    own_addresses: string[];
  };
  imap: { max_message_bytes: number };
}

export interface ImapCheckpoint {
  account: string;
  mailbox: string;
  uidValidity: string;
  uid: number;
}

export type IngestSource =
  | {
      kind: 'imap';
      checkpoint: ImapCheckpoint;
      /** RFC822.SIZE from the server: over the limit only the headers were fetched. */
      serverSize?: number;
    }
  | { kind: 'import'; file: string };

/** What a rules engine sees and what hooks receive. */
export interface StoredMessage {
  id: number;
  conversationId: number;
  customerId: number | null;
  isNewConversation: boolean;
  messageId: string;
  inReplyTo: string | null;
  references: string[];
  from: string;
  fromName: string | null;
  to: string[];
  cc: string[];
  subject: string;
  text: string;
  html: string | null;
  headers: Record<string, string[]>;
  attachments: Array<{ filename: string | null; contentType: string; size: number }>;
  size: number;
  flags: MailFlag[];
  dsn: Dsn | null;
  sentAt: number | null;
  receivedAt: number;
  department: Department;
  urgency: Urgency;
  tags: string[];
  source: string;
}

export interface ClassifyInput {
  from: string;
  fromName: string | null;
  to: string[];
  cc: string[];
  subject: string;
  text: string;
  html: string | null;
  headers: Record<string, string[]>;
  attachments: Array<{ filename: string | null; contentType: string; size: number }>;
  size: number;
  flags: MailFlag[];
  customerId: number | null;
  isNewConversation: boolean;
}

export interface Classification {
  department: Department;
  urgency: Urgency;
  tags: string[];
}

export interface IngestHooks {
  /** Pure; runs inside the write transaction before the message is written. */
  classify?(input: ClassifyInput): Classification | null;
  /** Synchronous, inside the same transaction (e.g. SLA due times). Throwing rolls back. */
  afterStoreTx?(stored: StoredMessage): void;
  /** Side effects after commit; errors are logged and never fail ingest. */
  afterCommit?(stored: StoredMessage): Promise<void> | void;
}

export interface IngestResult {
  status: 'stored' | 'duplicate';
  /** messages.id of the stored message (or of the copy already stored). */
  messageId: number;
  conversationId: number;
  flags: MailFlag[];
}
