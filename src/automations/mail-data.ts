import { type CustomerRow, type OrderRow, orderItems } from '../customers/index.ts';

/** What the templates get for an order: raw numbers plus display strings in the customer's locale. */

const DAY_MS = 86_400_000;

export function formatMoney(cents: number, currency: string, locale: string): string {
  try {
    return new Intl.NumberFormat(locale, { style: 'currency', currency }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}

export function formatDate(ms: number, locale: string, timeZone: string): string {
  try {
    return new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeZone }).format(new Date(ms));
  } catch {
    return new Date(ms).toISOString().slice(0, 10);
  }
}

export function paymentDeadline(order: OrderRow, deadlineDays: number): number {
  return order.payment_due_at ?? order.created_at + deadlineDays * DAY_MS;
}

export function orderMailData(
  order: OrderRow,
  customer: CustomerRow,
  opts: { locale: string; timeZone: string; deadlineDays: number },
): Record<string, unknown> {
  const { locale, timeZone } = opts;
  const deadline = paymentDeadline(order, opts.deadlineDays);
  return {
    customer: { name: customer.name, email: customer.email },
    order: {
      number: order.external_id,
      status: order.status,
      currency: order.currency,
      amount_cents: order.amount_cents,
      amount_due: formatMoney(order.amount_cents, order.currency, locale),
      items: orderItems(order).map((i) => ({
        ...i,
        unit_price: formatMoney(i.unit_cents, order.currency, locale),
        line_total: formatMoney(i.unit_cents * i.quantity, order.currency, locale),
      })),
      payment_instructions: order.payment_instructions,
      shipping_terms: order.shipping_terms,
      created: formatDate(order.created_at, locale, timeZone),
      payment_deadline: formatDate(deadline, locale, timeZone),
      payment_deadline_at: new Date(deadline).toISOString(),
    },
  };
}
