import type { z } from 'zod';
import { configSchema } from '../../src/config/index.ts';

/** config.sla as written in mailroom.yaml. */
export type SlaSettings = z.input<typeof configSchema>['sla'];

import { buildPolicy, type SlaPolicy } from '../../src/sla/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';

export const H = 3_600_000;

export function slaPolicy(sla: SlaSettings = {}): SlaPolicy {
  return buildPolicy(configSchema.parse({ sla }).sla);
}

export function migratedDb(file = ':memory:'): Db {
  const db = openDatabase(file);
  migrate(db);
  return db;
}

export function newConversation(db: Db, department = 'sales', urgency = 'normal'): number {
  return Number(
    db
      .prepare(
        'INSERT INTO conversations (department, urgency, created_at, last_message_at) VALUES (?, ?, 0, 0)',
      )
      .run(department, urgency).lastInsertRowid,
  );
}
