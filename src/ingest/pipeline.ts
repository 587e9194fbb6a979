import type { Readable } from 'node:stream';
import { type Clock, errorMessage, type Logger } from '../lib/index.ts';
import type { Db } from '../store/index.ts';
import type { BlobStore } from './blob-store.ts';
import { classifyMail, type MailFlag } from './classify-mail.ts';
import { dedupeKey, storedMessageId } from './dedupe.ts';
import { type ParsedMessage, parseHeadersOnly, parseMessage } from './parse.ts';
import type { IngestConfig, IngestHooks, IngestResult, IngestSource } from './types.ts';
import { writeMessage } from './write-message.ts';

export interface IngestPipelineDeps {
  db: Db;
  blobs: BlobStore;
  clock: Clock;
  logger: Logger;
  config: IngestConfig;
  hooks?: IngestHooks;
}

export interface IngestPipeline {
  ingestRaw(raw: Buffer | Readable, source: IngestSource): Promise<IngestResult>;
  /** Parses and classifies a stored inbound message again from its raw copy (after an upgrade). */
  reprocess(messageRowId: number): Promise<{ flags: MailFlag[]; parseError: string | null }>;
}

function addressOf(from: string): string {
  return (/<([^>]+)>/.exec(from)?.[1] ?? from).trim().toLowerCase();
}

/**
 * parse -> classify -> dedupe -> thread -> one transaction. The raw message is written to the
 * blob store first and parsed back from there, so what we keep is exactly what we parsed and a
 * crash anywhere before the commit loses nothing (the source is fetched again; the blob dedupes).
 */
export function createIngestPipeline(deps: IngestPipelineDeps): IngestPipeline {
  const { db, blobs, clock, config } = deps;
  const hooks = deps.hooks ?? {};
  const log = deps.logger.child({ component: 'ingest' });
  const ownAddresses = [...config.mail.own_addresses, addressOf(config.mail.from)];
  const ourId = db.prepare("SELECT 1 FROM messages WHERE message_id = ? AND direction = 'out' LIMIT 1");
  const isOurMessageId = (id: string) => ourId.get(id) !== undefined;

  async function parseStored(
    sha256: string,
    head: Buffer,
    size: number,
    oversize: boolean,
  ): Promise<ParsedMessage> {
    const opts = { blobs, head, size, loadRaw: () => blobs.readRaw(sha256) };
    try {
      return oversize ? await parseHeadersOnly(opts) : await parseMessage(blobs.openRaw(sha256), opts);
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

  return {
    async ingestRaw(raw, source) {
      const put = await blobs.putRaw(raw);
      const limit = config.imap.max_message_bytes;
      const serverSize = source.kind === 'imap' ? source.serverSize : undefined;
      const oversize = put.size > limit || (serverSize !== undefined && serverSize > limit);
      const size = Math.max(put.size, serverSize ?? 0);
      const parsed = await parseStored(put.sha256, put.head, put.size, oversize);
      const { flags, dsn } = flagsOf(parsed, put.head, oversize);
      const key = dedupeKey(parsed, put.sha256);
      const { result, stored } = writeMessage(
        db,
        {
          parsed,
          flags,
          dsn,
          dedupeKey: key,
          messageId: storedMessageId(parsed, key, config.mail.domain),
          rawSha256: put.sha256,
          size,
          source,
          now: clock.now(),
        },
        config,
        hooks,
      );
      log.debug(
        { status: result.status, id: result.messageId, conversation: result.conversationId, flags },
        'message ingested',
      );
      if (parsed.parseError)
        log.warn({ id: result.messageId, error: parsed.parseError }, 'message parse error');
      if (stored && hooks.afterCommit) {
        try {
          await hooks.afterCommit(stored);
        } catch (err) {
          log.error({ err, id: stored.id }, 'after-commit hook failed; message is stored');
        }
      }
      return result;
    },

    async reprocess(rowId) {
      const row = db
        .prepare("SELECT raw_sha256, size, flags FROM messages WHERE id = ? AND direction = 'in'")
        .get(rowId) as { raw_sha256: string | null; size: number; flags: string } | undefined;
      if (!row?.raw_sha256) return { flags: [], parseError: 'no raw copy' };
      const raw = await blobs.readRaw(row.raw_sha256);
      const oversize = (JSON.parse(row.flags) as string[]).includes('oversize');
      const head = raw.subarray(0, 256 * 1024);
      const parsed = await parseStored(row.raw_sha256, head, raw.length, oversize);
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
