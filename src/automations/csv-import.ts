import { csvObjects, isValidationError, type OrderEventTypes, type OrderStatus } from '../customers/index.ts';
import { errorMessage, isMailroomError } from '../lib/index.ts';
import type { OrderIntake } from './order-intake.ts';

/**
 * `mailroom orders import FILE.csv`, for shops without the API. One order per row; the optional
 * status column is reached through events with ids derived from the order (csv-<id>-<type>), so
 * importing the same file twice changes nothing and sends nothing twice.
 *
 * Columns: id, email, currency, amount (e.g. 128.00) or amount_cents, and optionally name, locale,
 * time_zone, items ("2 x Oolong @ 64.00; 1 x Green tea @ 10"), payment_instructions,
 * shipping_terms, payment_due_at, created_at, status.
 */

export interface ImportRowError {
  line: number;
  order: string | null;
  errors: string[];
}

export interface ImportReport {
  created: number;
  updated: number;
  failed: ImportRowError[];
}

const PATH_TO: Record<OrderStatus, Array<(typeof OrderEventTypes)[number]>> = {
  pending: [],
  paid: ['paid'],
  shipped: ['paid', 'shipped'],
  delivered: ['paid', 'shipped', 'delivered'],
  cancelled: ['cancelled'],
  refunded: ['paid', 'refunded'],
};

/** Steps of the normal path: an order already past a step does not take it again. */
const RANK: Partial<Record<OrderStatus, number>> = { pending: 0, paid: 1, shipped: 2, delivered: 3 };

function money(s: string): number | string {
  if (!/^\d+(\.\d{1,2})?$/.test(s)) return s;
  const [whole, frac = ''] = s.split('.');
  return Number(whole) * 100 + Number(frac.padEnd(2, '0'));
}

function parseItems(s: string): unknown {
  if (s.startsWith('[')) {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      return s;
    }
  }
  return s
    .split(';')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const m = /^(\d+)\s*[x×*]\s*(.+?)\s*@\s*(\S+)$/.exec(part);
      if (!m) return part;
      return { quantity: Number(m[1]), name: m[2], unit_cents: money(m[3] as string) };
    });
}

function toOrderInput(row: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const copy = [
    'id',
    'email',
    'name',
    'locale',
    'time_zone',
    'currency',
    'payment_instructions',
    'shipping_terms',
    'payment_due_at',
    'created_at',
  ];
  for (const k of copy) if (row[k]) out[k] = row[k];
  if (row.amount_cents)
    out.amount_cents = /^\d+$/.test(row.amount_cents) ? Number(row.amount_cents) : row.amount_cents;
  else if (row.amount) out.amount_cents = money(row.amount);
  if (row.items) out.items = parseItems(row.items);
  return out;
}

function messagesOf(e: unknown): string[] {
  if (isValidationError(e))
    return e.details.issues.map((i) => `${i.path === 'amount_cents' ? 'amount' : i.path}: ${i.message}`);
  if (isMailroomError(e)) return [e.message];
  return [`unexpected error: ${errorMessage(e)}`];
}

export async function importOrdersCsv(intake: OrderIntake, text: string): Promise<ImportReport> {
  const report: ImportReport = { created: 0, updated: 0, failed: [] };
  for (const { line, row } of csvObjects(text)) {
    // Spreadsheets often save trailing rows of empty cells: not an order, not an error.
    if (Object.values(row).every((v) => v === '')) continue;
    const orderId = row.id || null;
    const status = (row.status || 'pending').toLowerCase();
    if (!(status in PATH_TO)) {
      report.failed.push({
        line,
        order: orderId,
        errors: [`status: expected one of ${Object.keys(PATH_TO).join(', ')}`],
      });
      continue;
    }
    try {
      const res = await intake.submitOrder(toOrderInput(row));
      let current = res.order.status;
      for (const type of PATH_TO[status as OrderStatus]) {
        if (current === type || (RANK[current] ?? -1) >= (RANK[type] ?? Number.POSITIVE_INFINITY)) continue;
        const ev = await intake.submitEvent(res.order.external_id, {
          event_id: `csv-${res.order.external_id}-${type}`,
          type,
        });
        current = ev.order.status;
      }
      if (res.created) report.created++;
      else report.updated++;
    } catch (e) {
      report.failed.push({ line, order: orderId, errors: messagesOf(e) });
    }
  }
  return report;
}
