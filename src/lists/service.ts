import type { JobQueue } from '../queue/index.ts';
import {
  applyArfReport,
  applyBounce,
  applyComplaint,
  type BounceInput,
  type ComplaintInput,
  suppressionReason,
} from './bounces.ts';
import { type CampaignRunner, createCampaignRunner } from './campaign-runner.ts';
import { eraseAddress, exportAddress, exportListCsv, type ImportOptions, importCsv } from './data-rights.ts';
import { confirmSubscription, type SubscribeInput, subscribe } from './subscribe.ts';
import type { ListsDeps } from './types.ts';
import { handleUnsubscribeMail } from './unsubscribe.ts';

/** The lists' functions with their deps bound, for the composition root and the ingest pipeline. */
export function createLists(deps: ListsDeps) {
  return {
    deps,
    subscribe: (input: SubscribeInput) => subscribe(deps, input),
    confirm: (token: string, meta: { ip?: string | null; userAgent?: string | null } = {}) =>
      confirmSubscription(deps, token, meta),
    /** Ingest: a mail to the List-Unsubscribe mailto. Returns false when the mail is not for us. */
    handleUnsubscribeMail: (mail: { to: string | string[]; from: string; subject?: string }) =>
      handleUnsubscribeMail(deps, mail),
    /** Ingest: one recipient of a DSN (RFC 3464). */
    applyBounce: (input: BounceInput) => applyBounce(deps, input),
    applyComplaint: (input: ComplaintInput) => applyComplaint(deps, input),
    /** Ingest: a raw ARF report (RFC 5965). */
    applyArfReport: (raw: string) => applyArfReport(deps, raw),
    /** Outbound: why the lists say not to mail this address (null: no objection). */
    suppressionReason: (email: string) => suppressionReason(deps, email),
    importCsv: (opts: ImportOptions) => importCsv(deps, opts),
    exportListCsv: (slug: string) => exportListCsv(deps, slug),
    exportAddress: (email: string) => exportAddress(deps, email),
    eraseAddress: (email: string) => eraseAddress(deps, email),
    campaignRunner: (queue: JobQueue, opts: { tickMs?: number; concurrency?: number } = {}): CampaignRunner =>
      createCampaignRunner({ deps, queue, ...opts }),
  };
}

export type Lists = ReturnType<typeof createLists>;
