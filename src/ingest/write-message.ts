import { recordContact } from '../customers/index.ts';
import { type Db, prepareCached } from '../store/index.ts';
import type { MailFlag } from './classify-mail.ts';
import type { Dsn } from './dsn.ts';
import type { ParsedMessage } from './parse.ts';
import { findConversation, forwardedSender } from './threading.ts';
import type { IngestConfig, IngestHooks, IngestResult, IngestSource, StoredMessage } from './types.ts';
import { writerLocale } from './writer-locale.ts';

export interface WriteInput {
  parsed: ParsedMessage;
  flags: MailFlag[];
  dsn: Dsn | null;
  dedupeKey: string;
  messageId: string;
  rawSha256: string;
  size: number;
  source: IngestSource;
  now: number;
}

function sourceLabel(s: IngestSource): string {
  return s.kind === 'imap'
    ? `imap:${s.checkpoint.account}/${s.checkpoint.mailbox}/${s.checkpoint.uidValidity}/${s.checkpoint.uid}`
    : `import:${s.file}`;
}

function moveCheckpoint(db: Db, s: IngestSource, row: number, status: 'stored' | 'duplicate', now: number) {
  if (s.kind !== 'imap') return;
  const c = s.checkpoint;
  prepareCached(
    db,
    `INSERT INTO ingest_checkpoints (account, mailbox, uid_validity, last_uid, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT(account, mailbox) DO UPDATE SET
       last_uid = CASE WHEN uid_validity = excluded.uid_validity THEN max(last_uid, excluded.last_uid) ELSE excluded.last_uid END,
       uid_validity = excluded.uid_validity, updated_at = excluded.updated_at`,
  ).run(c.account, c.mailbox, c.uidValidity, c.uid, now);
  prepareCached(
    db,
    `INSERT OR IGNORE INTO ingest_uids (account, mailbox, uid_validity, uid, message_row, status, at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ).run(c.account, c.mailbox, c.uidValidity, c.uid, row, status, now);
}

/**
 * Everything one message changes, in one transaction: the message, its attachments, its
 * conversation, the customer, and (for IMAP) the checkpoint. A crash before commit leaves none
 * of it, and the UNIQUE dedupe key makes the re-fetch that follows a no-op.
 */
export function writeMessage(
  db: Db,
  input: WriteInput,
  config: IngestConfig,
  hooks: IngestHooks,
): { result: IngestResult; stored: StoredMessage | null } {
  return db
    .transaction(() => {
      const { parsed: p, now } = input;
      const existing = prepareCached(
        db,
        'SELECT id, conversation_id, flags FROM messages WHERE dedupe_key = ?',
      ).get(input.dedupeKey) as { id: number; conversation_id: number; flags: string } | undefined;
      if (existing) {
        moveCheckpoint(db, input.source, existing.id, 'duplicate', now);
        return {
          result: {
            status: 'duplicate' as const,
            messageId: existing.id,
            conversationId: existing.conversation_id,
            flags: input.flags,
          },
          stored: null,
        };
      }
      const match = findConversation(db, p);
      const machine = input.flags.some((f) => f === 'bounce' || f === 'loop' || f === 'noreply_sender');
      const own = [...config.mail.own_addresses];
      const forwarded = forwardedSender(p, own, config.mail.domain);
      const contact = {
        ...(forwarded ?? { email: p.from ?? '', name: p.fromName }),
        // A forward's own text is the forwarder's; only the customer's mail tells their language.
        locale: forwarded ? null : writerLocale(p),
      };
      const customer = !machine && contact.email ? recordContact(db, contact, now) : null;
      const text = p.text ?? '';
      const attachments = p.attachments.map((a) => ({
        filename: a.filename,
        contentType: a.contentType,
        size: a.size,
      }));
      let conversationId: number;
      let cls = {
        department: config.mail.default_department,
        urgency: 'normal' as const,
        tags: [] as string[],
      };
      if (match) {
        conversationId = match.conversationId;
        const row = prepareCached(db, 'SELECT department, urgency, tags FROM conversations WHERE id = ?').get(
          conversationId,
        ) as { department: typeof cls.department; urgency: 'normal'; tags: string };
        cls = { department: row.department, urgency: row.urgency, tags: JSON.parse(row.tags) as string[] };
        const reopen = !input.flags.some((f) => f === 'auto_reply' || f === 'bounce' || f === 'bulk');
        prepareCached(
          db,
          `UPDATE conversations SET last_message_at = max(last_message_at, @now), last_inbound_at = @now,
             status = CASE WHEN @reopen = 1 THEN 'open' ELSE status END,
             snoozed_until = CASE WHEN @reopen = 1 THEN NULL ELSE snoozed_until END
           WHERE id = @id`,
        ).run({ now, reopen: reopen ? 1 : 0, id: conversationId });
      } else {
        const decided = hooks.classify?.({
          from: p.from ?? '',
          fromName: p.fromName,
          to: p.to,
          cc: p.cc,
          subject: p.subject,
          text,
          html: p.html,
          headers: p.headers,
          attachments,
          size: input.size,
          flags: input.flags,
          customerId: customer?.id ?? null,
          isNewConversation: true,
        });
        if (decided) cls = { ...decided, urgency: decided.urgency as 'normal' };
        conversationId = Number(
          prepareCached(
            db,
            `INSERT INTO conversations (customer_id, subject, department, urgency, tags, created_at, last_message_at, last_inbound_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          ).run(
            customer?.id ?? null,
            p.subject.slice(0, 998),
            cls.department,
            cls.urgency,
            JSON.stringify(cls.tags),
            now,
            now,
            now,
          ).lastInsertRowid,
        );
      }
      const source = sourceLabel(input.source);
      const id = Number(
        // Cached: compiling an INSERT INTO messages compiles its triggers (FTS, references) too.
        prepareCached(
          db,
          `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, in_reply_to, refs, from_addr,
               from_name, to_addrs, cc_addrs, subject, sent_at, received_at, text_body, html_body, headers, flags,
               size, raw_sha256, source)
             VALUES (?, 'in', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          conversationId,
          input.messageId,
          input.dedupeKey,
          p.inReplyTo,
          JSON.stringify(p.references),
          p.from,
          p.fromName,
          JSON.stringify(p.to),
          JSON.stringify(p.cc),
          p.subject,
          p.date,
          now,
          p.text,
          p.html,
          JSON.stringify(p.headers),
          JSON.stringify(input.flags),
          input.size,
          input.rawSha256,
          source,
        ).lastInsertRowid,
      );
      const insAtt = prepareCached(
        db,
        `INSERT INTO attachments (message_id, sha256, filename, content_type, size, content_id, inline)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const a of p.attachments)
        insAtt.run(id, a.sha256, a.filename, a.contentType, a.size, a.contentId, a.inline ? 1 : 0);
      moveCheckpoint(db, input.source, id, 'stored', now);
      const stored: StoredMessage = {
        id,
        conversationId,
        customerId: customer?.id ?? null,
        isNewConversation: !match,
        messageId: input.messageId,
        inReplyTo: p.inReplyTo,
        references: p.references,
        from: p.from ?? '',
        fromName: p.fromName,
        to: p.to,
        cc: p.cc,
        subject: p.subject,
        text,
        html: p.html,
        headers: p.headers,
        attachments,
        size: input.size,
        flags: input.flags,
        dsn: input.dsn,
        sentAt: p.date,
        receivedAt: now,
        department: cls.department,
        urgency: cls.urgency,
        tags: cls.tags,
        source,
      };
      hooks.afterStoreTx?.(stored);
      return {
        result: { status: 'stored' as const, messageId: id, conversationId, flags: input.flags },
        stored,
      };
    })
    .immediate();
}
