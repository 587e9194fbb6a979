export { type ArfReport, parseArf } from './arf.ts';
export { setBlocklisted } from './blocklist.ts';
export {
  applyArfReport,
  applyBounce,
  applyComplaint,
  type BounceInput,
  type BounceResult,
  type ComplaintInput,
  type SuppressionReason,
  suppressionReason,
} from './bounces.ts';
export { expandCampaign } from './campaign-expand.ts';
export {
  BATCH_ROWS,
  type CampaignRunner,
  type CampaignRunnerOptions,
  createCampaignRunner,
  SEND_QUEUE,
  type SendJobData,
} from './campaign-runner.ts';
export {
  type BatchResult,
  buildCampaignMail,
  type ComposedListMail,
  type DirectCapableSendFn,
  type DirectListSender,
  type DirectOutcome,
  MAX_SEND_ATTEMPTS,
  type StagedState,
  sendBatch,
  testSend,
} from './campaign-send.ts';
export {
  CAMPAIGN_STATE_ACTIONS,
  type CampaignInput,
  type CampaignProgress,
  type CampaignRow,
  type CampaignStateAction,
  type CampaignStatus,
  cancelCampaign,
  changeCampaignState,
  checkThresholds,
  createCampaign,
  getCampaign,
  listCampaigns,
  listNotices,
  pauseCampaign,
  progress,
  resumeCampaign,
  scheduleCampaign,
  startCampaign,
} from './campaign-store.ts';
export { parseCsv, toCsv } from './csv.ts';
export {
  eraseAddress,
  eraseListData,
  exportAddress,
  exportListCsv,
  exportListData,
  type ImportOptions,
  type ImportResult,
  importCsv,
  type ListErase,
} from './data-rights.ts';
export { tokenFromUnsubscribeAddress, unsubscribeLinks } from './links.ts';
export {
  consentWordingFor,
  consentWordings,
  LIST_LOCALES,
  type ListLocale,
  listLocale,
  localeFromAcceptLanguage,
  pageLocale,
  requireListLocale,
  type ShownWording,
} from './locale.ts';
export {
  allLists,
  createList,
  findSubscriber,
  getListBySlug,
  hashAddress,
  isErased,
  type NewList,
  normaliseEmail,
  setConsentWording,
} from './repo.ts';
export { createLists, type Lists } from './service.ts';
export { confirmSubscription, type SubscribeInput, type SubscribeOutcome, subscribe } from './subscribe.ts';
export { readToken, signToken, type TokenAction, type TokenClaims, verifyToken } from './tokens.ts';
export {
  addTracking,
  type ClickResult,
  clickSignature,
  openPixelUrl,
  recordClick,
  recordOpen,
  rewriteLinks,
  TRACKING_NOTE_MARKER,
  TRACKING_NOTES,
  type TrackingKind,
  trackedLinkUrl,
  trackingCounts,
  verifyClickSignature,
} from './tracking.ts';
export * from './types.ts';
export {
  handleUnsubscribeMail,
  type Preferences,
  preferences,
  resolveUnsubscribeToken,
  type UnsubscribeScope,
  unsubscribeByToken,
} from './unsubscribe.ts';
export { bounceAddress, sendTokenFromAddress } from './verp.ts';
