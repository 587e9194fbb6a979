import type { ListsDeps } from '../../lists/index.ts';

/**
 * What looking up one address shows a staff member. The data-rights export covers the whole
 * installation (customer record, orders, the support mail of every department, the outbox): an
 * admin sees it. A marketer sees the lists' own data (subscriptions, consents, sends, bounces): the
 * support mail is not theirs to read, as an agent reads only their own departments'.
 */
export function addressView(
  deps: ListsDeps,
  role: string | undefined,
): Pick<ListsDeps, 'db'> & Partial<Pick<ListsDeps, 'dataRights'>> {
  return role === 'admin' ? deps : { db: deps.db };
}
