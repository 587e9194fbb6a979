// Deterministic per-mail data for the send and campaign benchmarks (no randomness: every run and
// the baseline send the same mail).

const FIRST = ['Alice', 'Wei', 'Mei-ling', 'Tom', 'Priya', 'Jonas', 'Hana', 'Li', 'Sofia', 'Omar'];
const LAST = ['Chen', 'Wang', 'Lin', 'Baker', 'Shah', 'Berg', 'Sato', 'Zhou', 'Rossi', 'Haddad'];
const ITEMS = [
  ['Dragon Well green tea, 250 g', 1250],
  ['Celadon tea cup', 1800],
  ['Tieguanyin oolong, 100 g', 950],
  ['Yixing clay teapot', 6400],
  ['Bamboo tea tray', 3200],
  ['Jasmine pearls, 50 g', 780],
] as const;

const money = (minor: number) => `£${(minor / 100).toFixed(2)}`;

export function personName(i: number): string {
  return `${FIRST[i % FIRST.length]} ${LAST[Math.floor(i / FIRST.length) % LAST.length]}`;
}

/** 20 recipient domains, so per-domain throttles see a realistic spread. */
export function recipient(prefix: string, i: number): string {
  return `${prefix}${i}@d${i % 20}.example`;
}

/** Data for templates/<locale>/order-confirmation, different for every i. */
export function orderData(i: number): Record<string, unknown> {
  const lines = 1 + (i % 3);
  const items = Array.from({ length: lines }, (_, k) => {
    const [name, price] = ITEMS[(i + k) % ITEMS.length] as (typeof ITEMS)[number];
    const quantity = 1 + ((i + k) % 2);
    return { name, quantity, unit_price: money(price), line_total: money(price * quantity) };
  });
  const total = items.reduce((s, it) => s + Number(it.line_total.slice(1)) * 100, 0);
  return {
    customer: { name: personName(i) },
    order: {
      number: `A-20260105-${String(i).padStart(6, '0')}`,
      currency: 'GBP',
      amount_cents: total,
      amount_due: money(total),
      items,
      payment_instructions: `Bank transfer to Lotus Tea House Ltd, IBAN GB29 NWBK 6016 1331 9268 19, quoting order A-20260105-${String(i).padStart(6, '0')}.`,
      shipping_terms: 'Royal Mail Tracked 48, free over £40; dispatched within 2 working days.',
      payment_deadline: '12 January 2026',
    },
  };
}
