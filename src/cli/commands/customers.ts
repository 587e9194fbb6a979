import {
  countSegment,
  customerTimeline,
  findCustomerByEmail,
  getCustomer,
  linkedAliases,
  listSegments,
  mergeCustomers,
  saveSegment,
  setTags,
  setVip,
} from '../../customers/index.ts';
import { systemClock } from '../../lib/index.ts';
import { type Db, migrate, openDatabase } from '../../store/index.ts';
import { type Command, UsageError } from '../command.ts';
import { eraseAddressCommand, exportAddressCommand } from './lists.ts';

function customerOf(db: Db, who: string) {
  const c = /^\d+$/.test(who) ? getCustomer(db, Number(who)) : findCustomerByEmail(db, who);
  if (!c) throw new UsageError(`no customer "${who}"`);
  return c;
}

export const customersCommand: Command = {
  name: 'customers',
  summary: 'show, tag, merge customers; save and count segments',
  usage: [
    'show EMAIL|ID',
    'vip EMAIL|ID on|off',
    'tags EMAIL|ID [TAG...]',
    'merge FROM TO',
    'segments',
    'segment save ID NAME FILTER_JSON',
    'segment count ID|FILTER_JSON',
    'export EMAIL',
    'erase EMAIL',
  ].join('\n'),
  help: [
    'FILTER_JSON keys: vip, min_total_cents, max_total_cents, min_orders, max_orders, last_order_before, last_order_after, tags, locale.',
    'export: everything held about the address as JSON (the customer record, orders, mail, outbox, lists).',
    'erase: deletes all of it; orders stay for bookkeeping, unlinked and without personal data, and only the',
    "address's SHA-256 is kept so it is never mailed again (the same as `mailroom lists erase`).",
  ].join('\n'),
  async run(ctx) {
    const [sub, ...args] = ctx.positionals;
    const config = ctx.config();
    if (sub === 'export' && args.length === 1) {
      ctx.out(exportAddressCommand(config, args[0] as string));
      return 0;
    }
    if (sub === 'erase' && args.length === 1) {
      for (const line of eraseAddressCommand(config, ctx.logger(), args[0] as string)) ctx.out(line);
      return 0;
    }
    const db = openDatabase(config.paths.dbFile);
    try {
      migrate(db, undefined, config.paths.dbFile);
      const now = systemClock.now();
      if (sub === 'show' && args.length === 1) {
        const c = customerOf(db, args[0] as string);
        ctx.out(
          `#${c.id} ${c.email}${c.name ? ` (${c.name})` : ''}${c.vip ? ' VIP' : ''}${c.merged_into ? ` merged into #${c.merged_into}` : ''}`,
        );
        ctx.out(`  orders ${c.order_count}, spent ${(c.total_cents / 100).toFixed(2)}, tags ${c.tags}`);
        const aliases = linkedAliases(db, c.id).filter((a) => a.id !== c.id);
        if (aliases.length) ctx.out(`  linked: ${aliases.map((a) => a.email).join(', ')}`);
        for (const e of customerTimeline(db, c.id))
          ctx.out(`  ${new Date(e.at).toISOString()} ${e.kind} ${e.summary}`);
        return 0;
      }
      if (sub === 'vip' && args.length === 2 && (args[1] === 'on' || args[1] === 'off')) {
        const c = setVip(db, customerOf(db, args[0] as string).id, args[1] === 'on');
        ctx.out(`#${c.id} ${c.email}: VIP ${c.vip ? 'on' : 'off'}`);
        return 0;
      }
      if (sub === 'tags' && args.length >= 1) {
        const c = customerOf(db, args[0] as string);
        const next = args.length > 1 ? setTags(db, c.id, args.slice(1)) : c;
        ctx.out(`#${next.id} ${next.email}: ${next.tags}`);
        return 0;
      }
      if (sub === 'merge' && args.length === 2) {
        const from = customerOf(db, args[0] as string);
        const to = customerOf(db, args[1] as string);
        const res = mergeCustomers(db, from.id, to.id, now, process.env.USER);
        const moved = Object.entries(res.moved).map(([t, n]) => `${n} ${t}`);
        ctx.out(`merged #${from.id} into #${to.id}${moved.length ? `: moved ${moved.join(', ')}` : ''}`);
        return 0;
      }
      if (sub === 'segments' && args.length === 0) {
        for (const s of listSegments(db))
          ctx.out(`${s.id}\t${countSegment(db, s.id)}\t${s.name}\t${JSON.stringify(s.filter)}`);
        return 0;
      }
      if (sub === 'segment' && args[0] === 'save' && args.length === 4) {
        const s = saveSegment(db, args[1] as string, args[2] as string, parseJson(args[3] as string), now);
        ctx.out(`segment ${s.id} saved: ${countSegment(db, s.id)} customers now`);
        return 0;
      }
      if (sub === 'segment' && args[0] === 'count' && args.length === 2) {
        const target = args[1] as string;
        ctx.out(String(countSegment(db, target.startsWith('{') ? (parseJson(target) as object) : target)));
        return 0;
      }
      throw new UsageError('unknown sub-command or wrong arguments');
    } finally {
      db.close();
    }
  },
};

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    throw new UsageError(`FILTER_JSON is not JSON: ${s}`);
  }
}
