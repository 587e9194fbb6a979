import { readFileSync } from 'node:fs';
import { createOrderIntake, importOrdersCsv } from '../../automations/index.ts';
import { getOrderByExternalId, orderItems } from '../../customers/index.ts';
import { systemClock } from '../../lib/index.ts';
import { migrate, openDatabase } from '../../store/index.ts';
import { type Command, UsageError } from '../command.ts';

export const ordersCommand: Command = {
  name: 'orders',
  summary: 'import orders from a CSV file, or show one order',
  usage: 'import FILE.csv\nshow ORDER',
  help: [
    'import: one order per row. Columns: id, email, currency, amount (128.00) or amount_cents; optional',
    'name, locale, time_zone, items ("2 x Oolong @ 64.00; 1 x Green tea @ 10"), payment_instructions,',
    'shipping_terms, payment_due_at, created_at (ISO dates), status (pending, paid, shipped, delivered,',
    'cancelled, refunded). Good rows are stored, bad rows are listed with their line; importing the',
    'same file again is harmless. The running mailroom sends confirmations within one scan interval.',
  ].join('\n'),
  async run(ctx) {
    const [sub, arg, ...extra] = ctx.positionals;
    if (!arg || extra.length > 0 || (sub !== 'import' && sub !== 'show')) {
      throw new UsageError('expected "import FILE.csv" or "show ORDER"');
    }
    const config = ctx.config();
    const db = openDatabase(config.paths.dbFile);
    try {
      migrate(db, undefined, config.paths.dbFile);
      if (sub === 'show') {
        const o = getOrderByExternalId(db, arg);
        if (!o) {
          ctx.err(`mailroom orders: no order "${arg}"`);
          return 1;
        }
        ctx.out(`order ${o.external_id}: ${o.status}, ${(o.amount_cents / 100).toFixed(2)} ${o.currency}`);
        for (const i of orderItems(o))
          ctx.out(`  ${i.quantity} x ${i.name} @ ${(i.unit_cents / 100).toFixed(2)}`);
        return 0;
      }
      let text: string;
      try {
        text = readFileSync(arg, 'utf8');
      } catch (e) {
        throw new UsageError(
          `cannot read ${arg}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
      const intake = createOrderIntake({ db, clock: systemClock, automations: null });
      const report = await importOrdersCsv(intake, text);
      for (const f of report.failed) {
        ctx.err(`${arg}:${f.line}${f.order ? ` (order ${f.order})` : ''}: ${f.errors.join('; ')}`);
      }
      ctx.out(`${report.created} created, ${report.updated} updated, ${report.failed.length} rejected`);
      return report.failed.length > 0 ? 1 : 0;
    } finally {
      db.close();
    }
  },
};
