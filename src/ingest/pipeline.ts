import { Readable } from 'node:stream';
import { type Clock, errorMessage, type Logger } from '../lib/index.ts';
import type { Db } from '../store/index.ts';
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

export interface IngestPipeline {
  ingestRaw(raw: Buffer | Readable, source: IngestSource): Promise<IngestResult>;
  /**
   * Several messages, in order, written in one transaction (fewer commits; the IMAP poller's
   * path). Parsing overlaps across messages. When one fails to store, the ones before it are
   * committed and the error is thrown, so a checkpoint never passes a message that was not stored.
   */
  ingestMany(items: IngestItem[]): Promise<IngestResult[]>;
  /** Parses and classifies a stored inbound message again from its raw copy (after an upgrade). */
  reprocess(messageRowId: number): Promise<{ flags: MailFlag[]; parseError: string | null }>;
}

function addressOf(from: string): string {
  return (/<([^>]+)>/.exec(from)?.[1] ?? from).trim().toLowerCase();
}

/** Messages parsed at once: parsing is on this thread, while blob writes and gzip overlap it. */
const PARSE_CONCURRENCY = 4;

/**
 * Maps items to results with at most `limit` in flight. Returns the results of the items before
 * the first one that failed (in order) and that failure, so a batch keeps what it could do.
 */
async function mapPrefix<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<{ done: R[]; error: unknown }> {
  const out: Array<{ ok: true; value: R } | { ok: false; error: unknown }> = [];
  let next = 0;
  let stop = false;
  const lane = async () => {
    while (!stop && next < items.length) {
      const i = next++;
      try {
        out[i] = { ok: true, value: await fn(items[i] as T) };
      } catch (error) {
        out[i] = { ok: false, error };
        stop = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  const done: R[] = [];
  for (const r of out) {
    if (!r?.ok) return { done, error: r ? r.error : new Error('not processed') };
    done.push(r.value);
  }
  return { done, error: null };
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

  /** One transaction for the batch; on a failure the messages before it still commit. */
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
        return { results, stored };
      })
      .immediate();
    return { results, stored, failure };
  }

  async function ingestMany(items: IngestItem[]): Promise<IngestResult[]> {
    // What was prepared before a failing message is stored; then the failure is reported.
    const prepared = await mapPrefix(items, PARSE_CONCURRENCY, prepare);
    const { results, stored, failure } = writeAll(prepared.done);
    for (const [i, r] of results.entries()) {
      log.debug(
        { status: r.status, id: r.messageId, conversation: r.conversationId, flags: r.flags },
        'message ingested',
      );
      const parseError = prepared.done[i]?.parsed.parseError;
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
    if (failure) throw failure;
    if (prepared.error) throw prepared.error;
    return results;
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
