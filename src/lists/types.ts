import type { Config } from '../config/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import type { Db } from '../store/index.ts';

export type OptIn = 'single' | 'double';
export type MembershipStatus = 'pending' | 'confirmed' | 'unsubscribed';
export type SubscriberStatus = 'active' | 'blocklisted' | 'bounced';
export type ConsentSource = 'form' | 'import' | 'api' | 'staff' | 'mail' | 'complaint' | 'link';

export interface ListRow {
  id: number;
  slug: string;
  name: string;
  description: string;
  public: number;
  optin: OptIn;
  welcome: number;
  /** The exact consent sentence in the list's default language. */
  consent_wording: string;
  created_at: number;
  /** Language of consent_wording and of the public pages when nothing better is known. */
  default_locale: string;
  /** JSON object: the consent wording in other languages, {"zh-CN": "...", "zh-TW": "..."}. */
  consent_wordings: string;
}

export interface SubscriberRow {
  id: number;
  email: string;
  name: string | null;
  locale: string | null;
  attributes: string;
  status: SubscriberStatus;
  unsubscribed_all_at: number | null;
  customer_id: number | null;
  created_at: number;
  updated_at: number;
}

export interface MembershipRow {
  list_id: number;
  subscriber_id: number;
  status: MembershipStatus;
  created_at: number;
  requested_at: number;
  confirmed_at: number | null;
  unsubscribed_at: number | null;
}

/** A mail for the outbound pipeline; headers are already free of CR/LF. */
export interface OutgoingMail {
  to: string;
  subject: string;
  html: string;
  text: string;
  headers: Record<string, string>;
  /** Envelope sender (Return-Path); VERP address for campaign mail so bounces find their send row. */
  envelopeFrom?: string;
  /** Same key = same mail: the outbox sends it at most once. */
  idempotencyKey: string;
}

export type SendFn = (mail: OutgoingMail) => Promise<void>;

export interface Rendered {
  subject?: string;
  html: string;
  text: string;
}
/** Renders a Handlebars template from templates/ (the outbound work provides it). */
export type RenderFn = (template: string, locale: string, data: Record<string, unknown>) => Promise<Rendered>;

export interface SegmentMember {
  email: string;
  name: string | null;
  customerId: number | null;
}
export type SegmentMembersFn = (segmentId: string) => SegmentMember[] | Promise<SegmentMember[]>;

/** Shared suppression (outbound): true when marketing mail must not go to this address. */
export type IsSuppressedFn = (email: string) => boolean;

export interface ListsSettings {
  confirmTtlMs: number;
  unsubscribeTtlMs: number;
  softBounceLimit: number;
  softBounceWindowMs: number;
  /** Defaults for new campaigns. */
  bounceThreshold: number;
  complaintThreshold: number;
  /** Sends (sent + bounced) before the auto-pause thresholds are judged: 1 bounce in 3 is not a trend. */
  thresholdMinSample: number;
  ratePerSecond: number;
  perDomainPerSecond: number;
  /** Rows a dispatcher tick looks at. */
  dispatchBatch: number;
}

export const DEFAULT_SETTINGS: ListsSettings = {
  confirmTtlMs: 7 * 24 * 3600_000,
  unsubscribeTtlMs: 400 * 24 * 3600_000,
  softBounceLimit: 3,
  softBounceWindowMs: 30 * 24 * 3600_000,
  bounceThreshold: 0.05,
  complaintThreshold: 0.001,
  thresholdMinSample: 100,
  ratePerSecond: 20,
  perDomainPerSecond: 5,
  dispatchBatch: 500,
};

export interface ListsDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** Session secret: key of the confirm/unsubscribe token MACs. */
  secret: string;
  /** web.public_url, e.g. https://shop.example.com */
  publicUrl: string;
  /** mail.domain: mailto unsubscribe address and VERP bounce address live here. */
  mailDomain: string;
  /** mail.from */
  from: string;
  send: SendFn;
  /** Campaign bodies; confirmation and welcome mail use built-in wording when absent. */
  render?: RenderFn;
  isSuppressed?: IsSuppressedFn;
  segmentMembers?: SegmentMembersFn;
  settings?: Partial<ListsSettings>;
  /** Whole-installation export and erase of one address (see AddressDataRights). */
  dataRights?: AddressDataRights;
}

/**
 * Access and erase requests for everything the installation holds about an address, not only the
 * lists' part. The composition root provides it (src/app/data-rights.ts); without it
 * exportAddress and eraseAddress cover the list tables only.
 */
export interface AddressDataRights {
  exportAddress(email: string): Record<string, unknown>;
  eraseAddress(email: string): unknown;
}

export function settingsOf(deps: ListsDeps): ListsSettings {
  return { ...DEFAULT_SETTINGS, ...deps.settings };
}

const DAY_MS = 24 * 3600_000;

/** The `lists:` section of mailroom.yaml as settings (the rest keep their defaults). */
export function listsSettingsFromConfig(config: Config): Partial<ListsSettings> {
  const l = config.lists;
  return {
    ratePerSecond: l.rate_per_second,
    perDomainPerSecond: l.per_domain_per_second,
    bounceThreshold: l.bounce_threshold,
    complaintThreshold: l.complaint_threshold,
    thresholdMinSample: l.threshold_min_sample,
    softBounceLimit: l.soft_bounce_limit,
    softBounceWindowMs: l.soft_bounce_window_days * DAY_MS,
    confirmTtlMs: l.confirm_ttl_days * DAY_MS,
  };
}
