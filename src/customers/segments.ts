import { z } from 'zod';
import { ErrorCodes, MailroomError } from '../lib/index.ts';
import type { Db } from '../store/index.ts';
import { parseInput } from './order-input.ts';

/**
 * Saved customer filters for campaigns. A filter is validated data compiled to SQL with `?`
 * parameters only: no value from a filter is ever spliced into the SQL text.
 */

const dateLike = z.union([z.number().int(), z.string()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v : Date.parse(v);
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: 'expected a date such as 2026-01-31' });
    return z.NEVER;
  }
  return ms;
});
const cents = z.number().int('expected whole cents').nonnegative('expected cents >= 0');
const count = z.number().int('expected a whole number').nonnegative('expected a number >= 0');

export const segmentFilterSchema = z
  .object({
    vip: z.boolean().optional(),
    min_total_cents: cents.optional(),
    max_total_cents: cents.optional(),
    min_orders: count.optional(),
    max_orders: count.optional(),
    last_order_before: dateLike.optional(),
    last_order_after: dateLike.optional(),
    /** Every listed tag must be present. */
    tags: z.array(z.string().min(1)).optional(),
    /** "zh" matches zh, zh-CN and zh-TW; "zh-TW" only zh-TW. */
    locale: z.string().min(2).optional(),
  })
  .strict();

export type SegmentFilter = z.output<typeof segmentFilterSchema>;
export type SegmentFilterInput = z.input<typeof segmentFilterSchema>;

export interface CompiledSegment {
  where: string;
  params: Array<string | number>;
}

const LAST_ORDER =
  "(SELECT max(o.created_at) FROM orders o WHERE o.customer_id = c.id AND o.status != 'cancelled')";

export function compileSegment(filter: SegmentFilter): CompiledSegment {
  const parts = ['c.merged_into IS NULL'];
  const params: Array<string | number> = [];
  const add = (sql: string, ...values: Array<string | number>) => {
    parts.push(sql);
    params.push(...values);
  };
  if (filter.vip !== undefined) add('c.vip = ?', filter.vip ? 1 : 0);
  if (filter.min_total_cents !== undefined) add('c.total_cents >= ?', filter.min_total_cents);
  if (filter.max_total_cents !== undefined) add('c.total_cents <= ?', filter.max_total_cents);
  if (filter.min_orders !== undefined) add('c.order_count >= ?', filter.min_orders);
  if (filter.max_orders !== undefined) add('c.order_count <= ?', filter.max_orders);
  if (filter.last_order_before !== undefined) add(`${LAST_ORDER} < ?`, filter.last_order_before);
  if (filter.last_order_after !== undefined) add(`${LAST_ORDER} >= ?`, filter.last_order_after);
  for (const tag of filter.tags ?? []) {
    add('EXISTS (SELECT 1 FROM json_each(c.tags) t WHERE t.value = ?)', tag.trim().toLowerCase());
  }
  if (filter.locale !== undefined) {
    add(
      "(lower(c.locale) = lower(?) OR lower(c.locale) LIKE lower(?) || '-%')",
      filter.locale,
      filter.locale,
    );
  }
  return { where: parts.join(' AND '), params };
}

export interface SegmentRow {
  id: string;
  name: string;
  filter: SegmentFilter;
  created_at: number;
  updated_at: number;
}

export function parseSegmentFilter(raw: unknown): SegmentFilter {
  return parseInput(segmentFilterSchema, raw, 'segment filter');
}

export function saveSegment(db: Db, id: string, name: string, rawFilter: unknown, now: number): SegmentRow {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(id)) {
    throw new MailroomError(
      ErrorCodes.VALIDATION,
      `segment id "${id}": use a-z, 0-9 and "-" (e.g. vip-big-spenders)`,
    );
  }
  const filter = parseSegmentFilter(rawFilter);
  db.prepare(
    `INSERT INTO segments (id, name, filter, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT(id) DO UPDATE SET name = excluded.name, filter = excluded.filter, updated_at = excluded.updated_at`,
  ).run(id, name, JSON.stringify(rawFilter), now, now);
  return getSegment(db, id) ?? { id, name, filter, created_at: now, updated_at: now };
}

export function getSegment(db: Db, id: string): SegmentRow | undefined {
  const row = db.prepare('SELECT * FROM segments WHERE id = ?').get(id) as
    | (Omit<SegmentRow, 'filter'> & { filter: string })
    | undefined;
  return row ? { ...row, filter: parseSegmentFilter(JSON.parse(row.filter)) } : undefined;
}

export function listSegments(db: Db): SegmentRow[] {
  const ids = db.prepare('SELECT id FROM segments ORDER BY name').all() as Array<{ id: string }>;
  return ids.map((r) => getSegment(db, r.id)).filter((s): s is SegmentRow => s !== undefined);
}

export function deleteSegment(db: Db, id: string): boolean {
  return db.prepare('DELETE FROM segments WHERE id = ?').run(id).changes > 0;
}

function filterOf(db: Db, segment: string | SegmentFilterInput): SegmentFilter {
  if (typeof segment !== 'string') return parseSegmentFilter(segment);
  const row = getSegment(db, segment);
  if (!row) throw new MailroomError(ErrorCodes.NOT_FOUND, `no segment "${segment}"`);
  return row.filter;
}

/** How many customers a segment reaches now: shown before a campaign uses it. */
export function countSegment(db: Db, segment: string | SegmentFilterInput): number {
  const { where, params } = compileSegment(filterOf(db, segment));
  return (db.prepare(`SELECT count(*) AS n FROM customers c WHERE ${where}`).get(...params) as { n: number })
    .n;
}

export interface SegmentMemberRow {
  customerId: number;
  email: string;
  name: string | null;
  locale: string | null;
}

/** Members in id order; page with afterId for large segments. */
export function listSegmentMembers(
  db: Db,
  segment: string | SegmentFilterInput,
  opts: { limit?: number; afterId?: number } = {},
): SegmentMemberRow[] {
  const { where, params } = compileSegment(filterOf(db, segment));
  return db
    .prepare(
      `SELECT c.id AS customerId, c.email, c.name, c.locale FROM customers c
       WHERE ${where} AND c.id > ? ORDER BY c.id LIMIT ?`,
    )
    .all(...params, opts.afterId ?? 0, opts.limit ?? 1_000_000) as SegmentMemberRow[];
}

/** The shape the mailing-list campaigns take (lists' SegmentMembersFn). */
export function segmentMembersFn(db: Db) {
  return (segmentId: string) =>
    listSegmentMembers(db, segmentId).map((m) => ({
      email: m.email,
      name: m.name,
      customerId: m.customerId,
    }));
}
