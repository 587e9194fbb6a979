import { Readable } from 'node:stream';
import { type Clock, errorMessage, type Logger } from '../lib/index.ts';
import { type Db, prepareCached } from '../store/index.ts';
import { type BlobStore, type PutResult, RAW_HEAD_BYTES } from './blob-store.ts';
import { classifyMail, type MailFlag } from './classify-mail.ts';
import { dedupeKey, storedMessageId } from './dedupe.ts';
import { type ParsedMessage, parseHeadersOnly, parseMessage } from './parse.ts';
import type { IngestConfig, IngestHooks, IngestResult, IngestSource, StoredMessage } from './types.ts';
import { type WriteInput, writeMessage } from './write-message.ts';

export interface IngestPipelineDeps {
  db: Db;
  blobs: BlobStore;
  clock: Clock;
  logger: Logger;
  config: IngestConfig;
  hooks?: IngestHooks;
}

export interface IngestItem {
  raw: Buffer | Readable;
  source: IngestSource;
}

export interface IngestManyOptions {
  /** Checked between transactions: true stops early (shutdown); the results say how far it got. */
  stopping?: () => boolean;
}

export interface IngestPipeline {
  ingestRaw(raw: Buffer | Readable, source: IngestSource): Promise<IngestResult>;
  /**
   * Several messages, in order, stored MESSAGES_PER_TRANSACTION to a transaction (the IMAP
   * poller's path), parsing ahead of the writes. Returns one result per stored message, a prefix
   * of `items` when `stopping` cut it short. When one fails to store, the ones before it are
   * committed and the error is thrown, so a checkpoint never passes a message that was not stored.
   */
  ingestMany(items: IngestItem[], opts?: IngestManyOptions): Promise<IngestResult[]>;
  /** Parses and classifies a stored inbound message again from its raw copy (after an upgrade). */
  reprocess(messageRowId: number): Promise<{ flags: MailFlag[]; parseError: string | null }>;
}

function addressOf(from: string): string {
  return (/<([^>]+)>/.exec(from)?.[1] ?? from).trim().toLowerCase();
}

/**
 * Messages prepared (blob written, parsed, classified) ahead of the transaction that stores them.
 * Parsing runs on this thread while blob hashing, gzip and file writes wait on the thread pool;
 * with few in flight the thread sat idle for those waits (half the time at 4).
 */
const PREPARE_AHEAD = 32;
/** Messages stored per transaction: a commit per message was a sixth of ingest time. */
const MESSAGES_PER_TRANSACTION = 50;

/**
 * Starts fn on the items in order with at most `limit` running; each item's promise settles with
 * its own outcome. cancel() stops starting new ones (those running finish on their own).
 */
function runAhead<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): { outcomes: Array<Promise<R>>; cancel(): void } {
  let next = 0;
  let cancelled = false;
  // Promise.withResolvers is Node 22+.
  const slots = items.map(() => {
    const slot = {} as { promise: Promise<R>; resolve(v: R): void; reject(e: unknown): void };
    slot.promise = new Promise<R>((resolve, reject) => Object.assign(slot, { resolve, reject }));
    return slot;
  });
  // Settled slots nobody awaits any more (after a stop or a failure) must not be unhandled.
  for (const s of slots) s.promise.catch(() => {});
  const lane = async () => {
    while (!cancelled && next < items.length) {
      const i = next++;
      const slot = slots[i] as (typeof slots)[number];
      try {
        slot.resolve(await fn(items[i] as T));
      } catch (err) {
        slot.reject(err);
      }
    }
  };
  for (let k = 0; k < Math.min(limit, items.length); k++) void lane();
  return {
    outcomes: slots.map((s) => s.promise),
    cancel: () => {
      cancelled = true;
    },
  };
}

/**
 * parse -> classify -> dedupe -> thread -> one transaction. The raw message is written to the
 * blob store before anything refers to it and a buffered message is parsed from the same bytes
 * (a stream is parsed back from the blob), so what we keep is exactly what we parsed, and a
 * crash anywhere before the commit loses nothing (the source is fetched again; the blob dedupes).
 */
export function createIngestPipeline(deps: IngestPipelineDeps): IngestPipeline {
  const { db, blobs, clock, config } = deps;
  const hooks = deps.hooks ?? {};
  const log = deps.logger.child({ component: 'ingest' });
  const ownAddresses = [...config.mail.own_addresses, addressOf(config.mail.from)];
  const ourId = db.prepare("SELECT 1 FROM messages WHERE message_id = ? AND direction = 'out' LIMIT 1");
  const isOurMessageId = (id: string) => ourId.get(id) !== undefined;

  /** Parses from the bytes in memory when there are any, else from the stored blob. */
  async function parseStored(
    from: { raw: Buffer } | { sha256: string },
    head: Buffer,
    size: number,
    oversize: boolean,
  ): Promise<ParsedMessage> {
    const loadRaw = 'raw' in from ? () => Promise.resolve(from.raw) : () => blobs.readRaw(from.sha256);
    const opts = { blobs, head, size, loadRaw };
    try {
      if (oversize) return await parseHeadersOnly(opts);
      return await parseMessage('raw' in from ? Readable.from([from.raw]) : blobs.openRaw(from.sha256), opts);
    } catch (err) {
      const p = await parseHeadersOnly(opts).catch(() => null);
      const fallback: ParsedMessage = p ?? {
        messageId: null,
        inReplyTo: null,
        references: [],
        from: null,
        fromName: null,
        to: [],
        cc: [],
        subject: '',
        date: null,
        text: null,
        html: null,
        headers: {},
        attachments: [],
        deliveryStatus: null,
        parseError: null,
      };
      fallback.parseError = errorMessage(err) || 'parse failed';
      return fallback;
    }
  }

  function flagsOf(p: ParsedMessage, head: Buffer, oversize: boolean) {
    const c = classifyMail(p, { domain: config.mail.domain, ownAddresses, isOurMessageId, head });
    const flags = [...c.flags];
    if (p.parseError) flags.push('parse_error');
    if (oversize) flags.push('oversize');
    return { flags, dsn: c.dsn };
  }

  /** Blob, parse and classify: everything before the transaction, safe to run side by side. */
  async function prepare({ raw, source }: IngestItem): Promise<WriteInput> {
    const limit = config.imap.max_message_bytes;
    const serverSize = source.kind === 'imap' ? source.serverSize : undefined;
    const tooBig = (size: number) => size > limit || (serverSize !== undefined && serverSize > limit);
    let put: PutResult;
    let parsed: ParsedMessage;
    if (Buffer.isBuffer(raw)) {
      // The bytes are in memory: parse them while the blob is hashed, compressed and written.
      const head = raw.subarray(0, RAW_HEAD_BYTES);
      [put, parsed] = await Promise.all([
        blobs.putRaw(raw),
        parseStored({ raw }, head, raw.length, tooBig(raw.length)),
      ]);
    } else {
      put = await blobs.putRaw(raw);
      parsed = await parseStored({ sha256: put.sha256 }, put.head, put.size, tooBig(put.size));
    }
    const oversize = tooBig(put.size);
    const { flags, dsn } = flagsOf(parsed, put.head, oversize);
    const key = dedupeKey(parsed, put.sha256);
    return {
      parsed,
      flags,
      dsn,
      dedupeKey: key,
      messageId: storedMessageId(parsed, key, config.mail.domain),
      rawSha256: put.sha256,
      size: Math.max(put.size, serverSize ?? 0),
      source,
      now: clock.now(),
    };
  }

  /**
   * One transaction for the batch; on a failure the messages before it still commit. The batch's
   * messages enter the search indexes (messages_fts, and messages_cjk of migration 0016) in one
   * statement each at its end, not row by row (migration 0015):
   * FTS5 wrote a segment for every message, the savepoint of the next one flushing it.
   */
  function writeAll(inputs: WriteInput[]): {
    results: IngestResult[];
    stored: StoredMessage[];
    failure: unknown;
  } {
    let failure: unknown = null;
    if (!inputs.length) return { results: [], stored: [], failure };
    const { results, stored } = db
      .transaction(() => {
        const results: IngestResult[] = [];
        const stored: StoredMessage[] = [];
        // The search index of the batch's messages is written once, below (migration 0015).
        prepareCached(
          db,
          'INSERT INTO fts_deferred (after_id) SELECT coalesce(max(id), 0) FROM messages',
        ).run();
        for (const input of inputs) {
          try {
            // Nested: its own savepoint, so a failure leaves the earlier messages intact.
            const w = writeMessage(db, input, config, hooks);
            results.push(w.result);
            if (w.stored) stored.push(w.stored);
          } catch (err) {
            failure = err;
            break;
          }
        }
        prepareCached(
          db,
          `INSERT INTO messages_fts (rowid, subject, body, sender)
           SELECT m.id, m.subject, coalesce(m.text_body, ''), coalesce(m.from_name, '') || ' ' || coalesce(m.from_addr, '')
           FROM messages m, fts_deferred d WHERE m.id > d.after_id ORDER BY m.id`,
        ).run();
        // Their CJK pairs (migration 0016), for 1-2 character Chinese, Japanese and Korean terms;
        // LIMIT -1 keeps the subquery whole, so cjk_bigrams runs once per message.
        prepareCached(
          db,
          `INSERT INTO messages_cjk (rowid, grams)
           SELECT id, g FROM (SELECT m.id, cjk_bigrams(m.subject, m.text_body, m.from_name, m.from_addr) AS g
             FROM messages m, fts_deferred d WHERE m.id > d.after_id ORDER BY m.id LIMIT -1)
           WHERE g != ''`,
        ).run();
        prepareCached(db, 'DELETE FROM fts_deferred').run();
        return { results, stored };
      })
      .immediate();
    return { results, stored, failure };
  }

  async function storeRun(inputs: WriteInput[]): Promise<{ results: IngestResult[]; failure: unknown }> {
    const { results, stored, failure } = writeAll(inputs);
    for (const [i, r] of results.entries()) {
      log.debug(
        { status: r.status, id: r.messageId, conversation: r.conversationId, flags: r.flags },
        'message ingested',
      );
      const parseError = inputs[i]?.parsed.parseError;
      if (parseError) log.warn({ id: r.messageId, error: parseError }, 'message parse error');
    }
    for (const s of stored) {
      if (!hooks.afterCommit) break;
      try {
        await hooks.afterCommit(s);
      } catch (err) {
        log.error({ err, id: s.id }, 'after-commit hook failed; message is stored');
      }
    }
    return { results, failure };
  }

  async function ingestMany(items: IngestItem[], opts: IngestManyOptions = {}): Promise<IngestResult[]> {
    const ahead = runAhead(items, PREPARE_AHEAD, prepare);
    const results: IngestResult[] = [];
    try {
      for (let start = 0; start < items.length; start += MESSAGES_PER_TRANSACTION) {
        if (start > 0 && opts.stopping?.()) break;
        const settled = await Promise.allSettled(
          ahead.outcomes.slice(start, start + MESSAGES_PER_TRANSACTION),
        );
        // What was prepared before a failing message is stored; then the failure is reported.
        const failedAt = settled.findIndex((o) => o.status === 'rejected');
        const ready = (failedAt < 0 ? settled : settled.slice(0, failedAt)).map(
          (o) => (o as PromiseFulfilledResult<WriteInput>).value,
        );
        const run = await storeRun(ready);
        results.push(...run.results);
        if (run.failure) throw run.failure;
        if (failedAt >= 0) throw (settled[failedAt] as PromiseRejectedResult).reason;
      }
      return results;
    } finally {
      ahead.cancel();
    }
  }

  return {
    async ingestRaw(raw, source) {
      const [result] = await ingestMany([{ raw, source }]);
      if (!result) throw new Error('ingest returned no result');
      return result;
    },

    ingestMany,

    async reprocess(rowId) {
      const row = db
        .prepare("SELECT raw_sha256, size, flags FROM messages WHERE id = ? AND direction = 'in'")
        .get(rowId) as { raw_sha256: string | null; size: number; flags: string } | undefined;
      if (!row?.raw_sha256) return { flags: [], parseError: 'no raw copy' };
      const raw = await blobs.readRaw(row.raw_sha256);
      const oversize = (JSON.parse(row.flags) as string[]).includes('oversize');
      const head = raw.subarray(0, 256 * 1024);
      const parsed = await parseStored({ raw }, head, raw.length, oversize);
      const { flags } = flagsOf(parsed, head, oversize);
      db.transaction(() => {
        db.prepare(
          `UPDATE messages SET subject = ?, from_addr = ?, from_name = ?, to_addrs = ?, cc_addrs = ?,
             text_body = ?, html_body = ?, headers = ?, flags = ?, in_reply_to = ?, refs = ? WHERE id = ?`,
        ).run(
          parsed.subject,
          parsed.from,
          parsed.fromName,
          JSON.stringify(parsed.to),
          JSON.stringify(parsed.cc),
          parsed.text,
          parsed.html,
          JSON.stringify(parsed.headers),
          JSON.stringify(flags),
          parsed.inReplyTo,
          JSON.stringify(parsed.references),
          rowId,
        );
        db.prepare('DELETE FROM attachments WHERE message_id = ?').run(rowId);
        const ins = db.prepare(
          `INSERT INTO attachments (message_id, sha256, filename, content_type, size, content_id, inline)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        );
        for (const a of parsed.attachments)
          ins.run(rowId, a.sha256, a.filename, a.contentType, a.size, a.contentId, a.inline ? 1 : 0);
      }).immediate();
      return { flags, parseError: parsed.parseError };
    },
  };
}
