export {
  type AutoReplyDeps,
  type AutoReplyInput,
  autoReplyVerdict,
  ownAddresses,
  sendAutoReply,
} from './auto-reply.ts';
export {
  type AutoReplyDecision,
  type AutoReplyMessage,
  type AutoReplySettings,
  autoReplyDecision,
} from './auto-reply-policy.ts';
export { type CannedReply, loadCannedReplies } from './canned-replies.ts';
export {
  type AutomaticKind,
  type ComposedMail,
  type ComposeInput,
  type ComposeSettings,
  composeMail,
  composeSettingsFromConfig,
  conversationToken,
} from './compose.ts';
export {
  hasHeaderControls,
  parseMailbox,
  safeAddress,
  safeHeaders,
  stripHeaderControls,
} from './header-safety.ts';
export { DEFAULT_LOCALE, intlLocale, localeChain, TEMPLATE_LOCALES } from './locales.ts';
export {
  getOutbox,
  getOutboxByKey,
  lastAutoReplyTo,
  OUTBOUND_QUEUE,
  type OutboxDeps,
  type OutboxRow,
  type OutboxStatus,
  type QueuedMail,
  type QueueMailInput,
  queueMail,
  SEND_JOB,
  type SendJobData,
  type SendStage,
  sendJobId,
} from './outbox.ts';
export { createOutboxRelay, type OutboxRelay, type OutboxRelayDeps } from './outbox-relay.ts';
export { type SendAgainDeps, sendAgain } from './send-again.ts';
export {
  createRemoteSendHandler,
  createSendHandler,
  deliverRaw,
  type SendHandlerDeps,
  SmtpSendError,
} from './send-job.ts';
export {
  isHardRecipientFailure,
  markFailed,
  markSent,
  markUncertain,
  outboxResultEvents,
  type SendResult,
} from './send-result.ts';
export {
  createSmtpTransport,
  type SmtpSender,
  type SmtpSendResult,
  type SmtpTransportOptions,
} from './smtp-transport.ts';
export { replySubject, type StaffReplyInput, sendStaffReply, textToHtml } from './staff-reply.ts';
export {
  addSuppression,
  getSuppression,
  isSuppressed,
  removeSuppression,
  type SuppressionReason,
  type SuppressionRow,
} from './suppressions.ts';
export {
  type ListMailInput,
  queueListMail,
  queueTemplateMail,
  type TemplateMailInput,
} from './template-mail.ts';
export {
  createTemplateRenderer,
  normaliseTemplateName,
  type RenderedTemplate,
  shopNameFrom,
  type TemplateCheckResult,
  type TemplateRenderer,
  type TemplateRendererOptions,
  templateRendererFromConfig,
} from './templates.ts';
