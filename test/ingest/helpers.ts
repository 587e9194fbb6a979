import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import {
  createBlobStore,
  createIngestPipeline,
  type IngestConfig,
  type IngestHooks,
} from '../../src/ingest/index.ts';
import { ManualClock, silentLogger } from '../../src/lib/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';
import { tempDir } from '../harness/index.ts';

export const FIXTURES = path.join(PROJECT_ROOT, 'test/fixtures/ingest');
export const CORPORA = path.resolve(PROJECT_ROOT, '../shared/corpora');

export function fixture(name: string): Buffer {
  return readFileSync(path.join(FIXTURES, name));
}

export const testConfig: IngestConfig = {
  mail: {
    domain: 'shop.example',
    from: 'Shop Support <support@shop.example>',
    default_department: 'customer_service',
    own_addresses: ['support@shop.example', 'sales@shop.example'],
  },
  imap: { max_message_bytes: 25 * 1024 * 1024 },
};

export function setup(
  opts: { hooks?: IngestHooks; config?: Partial<IngestConfig>; dbFile?: string; dataDir?: string } = {},
) {
  const dir = opts.dataDir ?? tempDir();
  const db: Db = openDatabase(opts.dbFile ?? ':memory:');
  migrate(db);
  const blobs = createBlobStore(path.join(dir, 'blobs'));
  const clock = new ManualClock();
  const config = { ...testConfig, ...opts.config };
  const pipeline = createIngestPipeline({
    db,
    blobs,
    clock,
    logger: silentLogger(),
    config,
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
  });
  return { db, blobs, clock, pipeline, dir, config };
}

export interface MessageRow {
  id: number;
  conversation_id: number;
  message_id: string;
  subject: string;
  from_addr: string | null;
  from_name: string | null;
  text_body: string | null;
  html_body: string | null;
  flags: string;
  raw_sha256: string;
  size: number;
}

export function messageRow(db: Db, id: number): MessageRow {
  return db.prepare('SELECT * FROM messages WHERE id = ?').get(id) as MessageRow;
}

export function flagsOf(db: Db, id: number): string[] {
  return JSON.parse(messageRow(db, id).flags) as string[];
}

export function mail(h: Record<string, string>, body = 'Hello.'): Buffer {
  const lines = Object.entries({ From: 'alice@customer.example', To: 'support@shop.example', ...h })
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}\r\n`);
}
