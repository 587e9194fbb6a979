export { type BlobStore, createBlobStore, type PutResult, storedBlobPath } from './blob-store.ts';
export { classifyMail, type MailClassification, type MailFlag } from './classify-mail.ts';
export { dedupeKey } from './dedupe.ts';
export { type Dsn, type DsnRecipient, parseDsn, parseTextBounce } from './dsn.ts';
export {
  type AccountState,
  type AccountStatus,
  createImapPoller,
  type ImapCredentials,
  type ImapPoller,
  type ImapPollerDeps,
} from './imap-source.ts';
export {
  type ImportOptions,
  type ImportProgress,
  type ImportSummary,
  importPath,
  readMbox,
} from './import.ts';
export { ingestFromConfig } from './open.ts';
export { cleanMessageId, type ParsedMessage, parseMessage, type StoredAttachment } from './parse.ts';
export {
  createIngestPipeline,
  type IngestItem,
  type IngestManyOptions,
  type IngestPipeline,
  type IngestPipelineDeps,
} from './pipeline.ts';
export { allMailboxStatus, type MailboxStatus, mailboxStatus } from './status.ts';
export { conversationToken, findConversation, TOKEN_RE } from './threading.ts';
export type {
  Classification,
  ClassifyInput,
  ImapCheckpoint,
  IngestConfig,
  IngestHooks,
  IngestResult,
  IngestSource,
  StoredMessage,
} from './types.ts';
