import type { Command } from '../command.ts';
import { accountsCommand } from './accounts.ts';
import { backup } from './backup.ts';
import { customersCommand } from './customers.ts';
import { demo } from './demo.ts';
import { importCommand } from './import.ts';
import { listsCommand } from './lists.ts';
import { migrateCommand } from './migrate.ts';
import { ordersCommand } from './orders.ts';
import { report } from './report.ts';
import { reprocessCommand } from './reprocess.ts';
import { rulesCommand } from './rules.ts';
import { start, worker } from './start.ts';
import { templatesCommand } from './templates.ts';
import { users } from './users.ts';

/** Every `mailroom` command, in the order --help lists them. */
export const commands: Command[] = [
  start,
  worker,
  demo,
  migrateCommand,
  backup,
  rulesCommand,
  templatesCommand,
  report,
  users,
  listsCommand,
  ordersCommand,
  customersCommand,
  importCommand,
  accountsCommand,
  reprocessCommand,
];
