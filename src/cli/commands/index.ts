import type { Command } from '../command.ts';
import { backup } from './backup.ts';
import { customersCommand } from './customers.ts';
import { demo } from './demo.ts';
import { migrateCommand } from './migrate.ts';
import { ordersCommand } from './orders.ts';
import { report } from './report.ts';
import { rulesCommand } from './rules.ts';
import { start, worker } from './start.ts';
import { users } from './users.ts';

/** Every `mailroom` command, in the order --help lists them. */
export const commands: Command[] = [
  start,
  worker,
  demo,
  migrateCommand,
  backup,
  rulesCommand,
  report,
  ordersCommand,
  customersCommand,
  users,
];
