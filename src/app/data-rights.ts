import { existsSync, rmSync } from 'node:fs';
import {
  addressSpellings,
  customerNames,
  customerRecordsFor,
  deleteWithReferences,
  eraseCustomerData,
  exportCustomerData,
  makeRedactor,
  normaliseAddress,
  type Redactor,
  requireAddress,
} from '../customers/index.ts';
import type { BlobStore } from '../ingest/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import {
  type AddressDataRights,
  eraseListData,
  exportListData,
  findSubscriber,
  hashAddress,
} from '../lists/index.ts';
import { type Db, inTransaction } from '../store/index.ts';

/**
 * Access and erase requests for one address across the whole installation (GDPR art. 15 and 17).
 * Each folder answers for its own tables (lists: exportListData / eraseListData; customers:
 * exportCustomerData / eraseCustomerData); this composition helper puts them together and handles
 * the mail itself (conversations, messages, attachments, raw copies on disk, outbox, suppressions),
 * whose folders (ingest, outbound) have no erase of their own yet.
 *
 * What an erase does, in one transaction:
 * - Mail the person sent, and mail we sent to them alone, is deleted with its attachment rows. A
 *   conversation of theirs in which nobody else wrote goes completely (staff notes, SLA clock and
 *   history with it); one where other people wrote too keeps the others' messages and passes to the
 *   first of them.
 * - Other people's messages that name the person (Cc, a quoted reply) stay, with the address and
 *   the person's names replaced by "[erased]" in every stored field. Their raw copy is dropped: a
 *   MIME message cannot be reliably redacted (encoded headers, base64 bodies), and the parsed copy
 *   is what staff read.
 * - Outbox rows to the address (the full sent mail), queued jobs naming it and suppression entries
 *   for it are deleted.
 * - Lists: see eraseListData. Customers and orders: see eraseCustomerData (orders stay for
 *   bookkeeping, pseudonymised and unlinked).
 * - Last, every text column of every table is swept for the address, so data a later migration adds
 *   cannot keep it. Only sha256 of the address stays (erased_addresses), so it is never subscribed,
 *   imported or list-mailed again.
 * After the commit, raw messages and attachment files on disk that no remaining message refers to
 * are deleted (blobs are content-addressed: a file another message also has stays), and the search
 * index is rewritten without the deleted text.
 *
 * Not reached: copies outside the database and blob folder (backups, the IMAP mailboxes mail was
 * fetched from, jobs already handed to Redis). Mail from the address that is fetched again later
 * (a new IMAP sync of old mail, a re-import) is stored again.
 */

export interface DataRightsDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** The blob store of raw messages and attachments; null: files on disk are not touched. */
  blobs: Pick<BlobStore, 'pathOf'> | null;
}

export interface EraseReport {
  /** First 12 hex digits of sha256(address), the only trace kept. */
  hash: string;
  customerRecords: number;
  ordersPseudonymised: number;
  messagesDeleted: number;
  /** Other people's messages kept with the address and names blanked out. */
  messagesRedacted: number;
  conversationsDeleted: number;
  /** Conversations with other people's messages, kept without this person's. */
  conversationsKept: number;
  outboxDeleted: number;
  subscriber: boolean;
  /** Raw messages and attachment files deleted from disk. */
  blobsDeleted: number;
  /** Rows elsewhere whose text still named the address, blanked out by the final sweep. */
  swept: Record<string, number>;
}

/** Flags of mail no person wrote: it does not keep a conversation alive for someone else. */
const MACHINE_FLAGS = ['auto_reply', 'bounce', 'bulk', 'loop', 'noreply', 'noreply_sender'];

interface MessageRow {
  id: number;
  conversation_id: number;
  direction: 'in' | 'out';
  message_id: string;
  from_addr: string | null;
  from_name: string | null;
  to_addrs: string;
  cc_addrs: string;
  subject: string;
  sent_at: number | null;
  received_at: number;
  text_body: string | null;
  flags: string;
  raw_sha256: string | null;
}

function jsonList(s: string | null): string[] {
  try {
    const v = JSON.parse(s ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** The address part of "Name <a@b>" or "a@b", normalised; null for anything else. */
function addressIn(entry: string): string | null {
  const m = /<([^<>]+)>\s*$/.exec(entry);
  return normaliseAddress(m?.[1] ?? entry)?.email ?? null;
}

function marks(n: number): string {
  return n === 0 ? 'NULL' : Array.from({ length: n }, () => '?').join(', ');
}

/** Messages the person sent, or received, and the conversations they are in or own. */
function personMessages(db: Db, spellings: string[], customerIds: number[]) {
  const addrs = new Set(spellings);
  const like = spellings
    .map(() => "instr(lower(coalesce(m.from_addr, '') || m.to_addrs || m.cc_addrs), ?) > 0")
    .join(' OR ');
  const rows = db
    .prepare(
      `SELECT m.* FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id
       WHERE ${like} OR c.customer_id IN (${marks(customerIds.length)})
       ORDER BY m.received_at, m.id`,
    )
    .all(...spellings, ...customerIds) as MessageRow[];
  const isThem = (a: string | null) => a !== null && addrs.has(a);
  const sent: MessageRow[] = [];
  const received: MessageRow[] = [];
  const other: MessageRow[] = [];
  for (const m of rows) {
    const recipients = [...jsonList(m.to_addrs), ...jsonList(m.cc_addrs)].map(addressIn);
    const from = m.from_addr ? addressIn(m.from_addr) : null;
    if (m.direction === 'in' && isThem(from)) sent.push(m);
    else if (m.direction === 'out' && recipients.length > 0 && recipients.every(isThem)) received.push(m);
    else if (recipients.some(isThem)) other.push(m);
    // Anything else is someone else's mail in a conversation of theirs: not theirs to export.
  }
  return { sent, received, cc: other };
}

/** Everything held about one address, from every folder, as plain JSON. */
export function exportEverything(deps: Pick<DataRightsDeps, 'db'>, email: string): Record<string, unknown> {
  const { db } = deps;
  const addr = requireAddress(email);
  const spellings = addressSpellings(addr);
  const lists = exportListData(db, addr);
  const customers = exportCustomerData(db, addr);
  const ids = customerRecordsFor(db, addr).map((c) => c.id);
  const { sent, received, cc } = personMessages(db, spellings, ids);
  const theirs = [...sent, ...received, ...cc].sort((a, b) => a.received_at - b.received_at || a.id - b.id);
  const convIds = new Set(theirs.map((m) => m.conversation_id));
  for (const c of db
    .prepare(`SELECT id FROM conversations WHERE customer_id IN (${marks(ids.length)})`)
    .all(...ids) as Array<{ id: number }>)
    convIds.add(c.id);
  const attachments = db.prepare(
    'SELECT filename, content_type, size, sha256, inline FROM attachments WHERE message_id = ? ORDER BY id',
  );
  const conversations = (
    db
      .prepare(
        `SELECT id, customer_id, subject, department, urgency, status, created_at, last_message_at
         FROM conversations WHERE id IN (${marks(convIds.size)}) ORDER BY created_at, id`,
      )
      .all(...convIds) as Array<{ id: number; customer_id: number | null } & Record<string, unknown>>
  ).map(({ customer_id, ...c }) => {
    const own = customer_id !== null && ids.includes(customer_id);
    return {
      ...c,
      // Shared conversations list only this person's messages (sent by or to them).
      yours: own,
      messages: theirs
        .filter((m) => m.conversation_id === c.id)
        .map((m) => ({
          id: m.id,
          direction: m.direction,
          messageId: m.message_id,
          from: m.from_addr,
          fromName: m.from_name,
          to: jsonList(m.to_addrs),
          cc: jsonList(m.cc_addrs),
          subject: m.subject,
          sentAt: m.sent_at,
          receivedAt: m.received_at,
          text: m.text_body,
          flags: jsonList(m.flags),
          attachments: attachments.all(m.id),
        })),
      staffNotes: own
        ? db
            .prepare(
              'SELECT author, body, created_at FROM notes WHERE conversation_id = ? ORDER BY created_at, id',
            )
            .all(c.id)
        : [],
    };
  });
  const outbox = (
    db
      .prepare(
        `SELECT id, kind, category, to_addr, from_addr, subject, message_id, status, created_at, sent_at, raw
         FROM outbox WHERE lower(to_addr) IN (${marks(spellings.length)}) OR customer_id IN (${marks(ids.length)})
         ORDER BY created_at, id`,
      )
      .all(...spellings, ...ids) as Array<Record<string, unknown> & { raw: Buffer }>
  ).map(({ raw, ...row }) => ({ ...row, raw: Buffer.from(raw).toString('utf8') }));
  const { email: _e, erased, ...listData } = lists;
  return {
    email: addr,
    erased,
    ...customers,
    conversations,
    outbox,
    suppressions: db
      .prepare(
        `SELECT address, reason, source, detail, at FROM suppressions WHERE address IN (${marks(spellings.length)})`,
      )
      .all(...spellings),
    ...listData,
  };
}

/** Blanks the address and names out of the listed columns of the rows `where` selects; returns the changed ids. */
function redactRows(
  db: Db,
  table: string,
  cols: string[],
  where: string,
  params: unknown[],
  red: Redactor,
  extraSet = '',
): number[] {
  const rows = db
    .prepare(`SELECT id, ${cols.join(', ')} FROM ${table} WHERE ${where}`)
    .all(...params) as Array<Record<string, unknown> & { id: number }>;
  const changed: number[] = [];
  const update = db.prepare(
    `UPDATE ${table} SET ${cols.map((c) => `${c} = ?`).join(', ')}${extraSet} WHERE id = ?`,
  );
  for (const r of rows) {
    let diff = false;
    const values = cols.map((c) => {
      const v = r[c];
      if (typeof v !== 'string') return v;
      const out = red(v);
      if (out !== v) diff = true;
      return out;
    });
    if (diff) {
      update.run(...values, r.id);
      changed.push(r.id);
    }
  }
  return changed;
}

const MESSAGE_TEXT = [
  'subject',
  'text_body',
  'html_body',
  'from_name',
  'from_addr',
  'to_addrs',
  'cc_addrs',
  'headers',
];

/** Every text (and blob) column of every ordinary table, for the final sweep. */
function sweepTargets(db: Db): Array<{ table: string; column: string; blob: boolean }> {
  const tables = db
    .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    .all() as Array<{ name: string; sql: string | null }>;
  const virtual = tables.filter((t) => /^\s*CREATE\s+VIRTUAL\s+TABLE/i.test(t.sql ?? '')).map((t) => t.name);
  const skipTable = (n: string) =>
    n === 'schema_migrations' ||
    n === 'erased_addresses' ||
    virtual.some((v) => n === v || n.startsWith(`${v}_`)) ||
    !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n);
  // A plus-tag alias's key (ann+shop@x has base ann@x) belongs to the alias, another address.
  const skipColumn = new Set(['customers.base_email']);
  const out: Array<{ table: string; column: string; blob: boolean }> = [];
  for (const t of tables) {
    if (skipTable(t.name)) continue;
    for (const c of db.prepare(`PRAGMA table_info("${t.name}")`).all() as Array<{
      name: string;
      type: string;
    }>) {
      const type = c.type.toUpperCase();
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(c.name) || skipColumn.has(`${t.name}.${c.name}`)) continue;
      if (type === '' || /CHAR|CLOB|TEXT/.test(type))
        out.push({ table: t.name, column: c.name, blob: false });
      else if (type === 'BLOB') out.push({ table: t.name, column: c.name, blob: true });
    }
  }
  return out;
}

function sweep(db: Db, spellings: string[]): Record<string, number> {
  const red = makeRedactor({ addresses: spellings, names: [] });
  db.function('mailroom_erase_redact', { deterministic: true }, (v: unknown) => {
    if (typeof v === 'string') return red(v);
    if (Buffer.isBuffer(v)) {
      const s = v.toString('latin1');
      const out = red(s);
      return out === s ? v : Buffer.from(out, 'latin1');
    }
    return v;
  });
  const found: Record<string, number> = {};
  for (const { table, column } of sweepTargets(db)) {
    const hit = spellings.map(() => `instr(lower(CAST("${column}" AS TEXT)), ?) > 0`).join(' OR ');
    const n = db
      .prepare(`UPDATE "${table}" SET "${column}" = mailroom_erase_redact("${column}") WHERE ${hit}`)
      .run(...spellings).changes;
    if (n > 0) found[`${table}.${column}`] = n;
  }
  return found;
}

/** Erases everything held about one address; see the comment at the top of this file. */
export function eraseEverything(deps: DataRightsDeps, email: string): EraseReport {
  const { db, clock, logger } = deps;
  const addr = requireAddress(email);
  const spellings = addressSpellings(addr);
  const now = clock.now();
  const blobCandidates = new Set<string>();
  const secureDelete = db.pragma('secure_delete', { simple: true });
  // Deleted rows are overwritten in the file, not only unlinked from the b-tree.
  db.pragma('secure_delete = ON');
  let report: EraseReport;
  try {
    report = inTransaction(db, () => {
      const customerIds = customerRecordsFor(db, addr).map((c) => c.id);
      const { sent, received } = personMessages(db, spellings, customerIds);
      const names = [
        ...customerNames(db, addr),
        findSubscriber(db, addr)?.name,
        ...sent.map((m) => m.from_name),
      ].filter((n): n is string => Boolean(n?.trim()));
      const red = makeRedactor({ addresses: spellings, names });
      const attachmentShas = db.prepare('SELECT sha256 FROM attachments WHERE message_id = ?');
      const dropMessages = (rows: Array<Pick<MessageRow, 'id' | 'raw_sha256'>>) => {
        for (const m of rows) {
          if (m.raw_sha256) blobCandidates.add(m.raw_sha256);
          for (const a of attachmentShas.all(m.id) as Array<{ sha256: string }>) blobCandidates.add(a.sha256);
        }
        return deleteWithReferences(
          db,
          'messages',
          rows.map((m) => m.id),
        );
      };

      // 1. Their own messages.
      const own = [...sent, ...received];
      const affected = new Set(own.map((m) => m.conversation_id));
      for (const c of db
        .prepare(`SELECT id FROM conversations WHERE customer_id IN (${marks(customerIds.length)})`)
        .all(...customerIds) as Array<{ id: number }>)
        affected.add(c.id);
      let messagesDeleted = dropMessages(own);

      // 2. Their conversations: gone unless someone else wrote in them.
      const deadConversations: number[] = [];
      const keptConversations: number[] = [];
      for (const convId of affected) {
        const conv = db.prepare('SELECT customer_id FROM conversations WHERE id = ?').get(convId) as
          | { customer_id: number | null }
          | undefined;
        if (!conv) continue;
        const rest = db
          .prepare(
            'SELECT id, direction, from_addr, flags, raw_sha256 FROM messages WHERE conversation_id = ? ORDER BY received_at, id',
          )
          .all(convId) as Array<Pick<MessageRow, 'id' | 'direction' | 'from_addr' | 'flags' | 'raw_sha256'>>;
        const owned = conv.customer_id !== null && customerIds.includes(conv.customer_id);
        const writers = rest.filter(
          (m) =>
            m.direction === 'in' &&
            m.from_addr !== null &&
            !spellings.includes(addressIn(m.from_addr) ?? '') &&
            !jsonList(m.flags).some((f) => MACHINE_FLAGS.includes(f)),
        );
        if (rest.length === 0 || (owned && writers.length === 0)) {
          messagesDeleted += dropMessages(rest);
          deadConversations.push(convId);
          continue;
        }
        keptConversations.push(convId);
        if (owned) {
          // The conversation passes to the first other person who wrote in it.
          const next = writers
            .map((w) => addressIn(w.from_addr ?? ''))
            .map((a) =>
              a
                ? (db.prepare('SELECT id FROM customers WHERE email = ?').get(a) as
                    | { id: number }
                    | undefined)
                : undefined,
            )
            .find((c) => c !== undefined && !customerIds.includes(c.id));
          db.prepare('UPDATE conversations SET customer_id = ? WHERE id = ?').run(next?.id ?? null, convId);
        }
      }
      const conversationsDeleted = deleteWithReferences(db, 'conversations', deadConversations);

      // 3. What stays in shared conversations, and other people's mail naming them anywhere.
      const k = marks(keptConversations.length);
      redactRows(db, 'conversations', ['subject'], `id IN (${k})`, keptConversations, red);
      redactRows(db, 'notes', ['body'], `conversation_id IN (${k})`, keptConversations, red);
      redactRows(db, 'conversation_events', ['detail'], `conversation_id IN (${k})`, keptConversations, red);
      redactRows(db, 'tasks', ['title'], `conversation_id IN (${k})`, keptConversations, red);
      const mentions = spellings
        .map(
          () =>
            `instr(lower(coalesce(from_addr, '') || to_addrs || cc_addrs || headers || subject || coalesce(text_body, '') || coalesce(html_body, '') || coalesce(from_name, '')), ?) > 0`,
        )
        .join(' OR ');
      const toRedact = db
        .prepare(`SELECT id, raw_sha256 FROM messages WHERE conversation_id IN (${k}) OR ${mentions}`)
        .all(...keptConversations, ...spellings) as Array<{ id: number; raw_sha256: string | null }>;
      const rawOf = new Map(toRedact.map((m) => [m.id, m.raw_sha256]));
      const redacted = redactRows(
        db,
        'messages',
        MESSAGE_TEXT,
        `id IN (${marks(toRedact.length)})`,
        toRedact.map((m) => m.id),
        red,
        ', raw_sha256 = NULL',
      );
      for (const id of redacted) {
        const sha = rawOf.get(id);
        if (sha) blobCandidates.add(sha);
      }
      // Mail we sent to others in those conversations (it may quote them): subject and raw copy.
      for (const o of db
        .prepare(`SELECT id, subject, raw FROM outbox WHERE conversation_id IN (${k})`)
        .all(...keptConversations) as Array<{ id: number; subject: string; raw: Buffer }>) {
        const raw = Buffer.from(o.raw).toString('utf8');
        const [subject, text] = [red(o.subject), red(raw)];
        if (subject !== o.subject || text !== raw)
          db.prepare('UPDATE outbox SET subject = ?, raw = ? WHERE id = ?').run(
            subject,
            text === raw ? o.raw : Buffer.from(text, 'utf8'),
            o.id,
          );
      }

      // 4. Outbox, queued jobs, suppressions.
      const outboxIds = (
        db
          .prepare(
            `SELECT id FROM outbox WHERE lower(to_addr) IN (${marks(spellings.length)}) OR customer_id IN (${marks(customerIds.length)})`,
          )
          .all(...spellings, ...customerIds) as Array<{ id: number }>
      ).map((o) => o.id);
      const outboxDeleted = deleteWithReferences(db, 'outbox', outboxIds);
      // A job still waiting for a deleted outbox row would only fail; finished ones keep the address.
      db.prepare(
        `DELETE FROM jobs WHERE state != 'active' AND (${spellings.map(() => 'instr(lower(data), ?) > 0').join(' OR ')})`,
      ).run(...spellings);
      db.prepare(`DELETE FROM suppressions WHERE address IN (${marks(spellings.length)})`).run(...spellings);

      // 5. Lists (the hash goes on the erase list here), then the customer record and its orders.
      const list = eraseListData(db, addr, now);
      const customer = eraseCustomerData(db, addr, now, red);

      // 6. Anything left that names the address.
      const swept = sweep(db, spellings);
      return {
        hash: hashAddress(addr).slice(0, 12),
        customerRecords: customer.customerIds.length,
        ordersPseudonymised: customer.ordersPseudonymised,
        messagesDeleted,
        messagesRedacted: redacted.length,
        conversationsDeleted,
        conversationsKept: keptConversations.length,
        outboxDeleted,
        subscriber: list.subscriber,
        blobsDeleted: 0,
        swept,
      };
    });
  } finally {
    db.pragma(`secure_delete = ${Number(secureDelete) ? 'ON' : 'OFF'}`);
  }

  report.blobsDeleted = deleteUnreferencedBlobs(deps, blobCandidates);
  try {
    // The full-text indexes still hold the deleted text in their segments until they are merged.
    db.exec("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')");
    db.exec("INSERT INTO messages_cjk(messages_cjk) VALUES ('optimize')");
  } catch (e) {
    logger.warn({ err: (e as Error).message }, 'erase: the search index could not be optimised');
  }
  logger.info({ ...report, swept: Object.keys(report.swept).length }, 'address erased');
  return report;
}

/**
 * Deletes the raw-message and attachment files no message refers to any more. Content-addressed:
 * the same attachment sent by two people is one file, and stays while either message does.
 */
function deleteUnreferencedBlobs(deps: DataRightsDeps, shas: Set<string>): number {
  if (!deps.blobs || shas.size === 0) return 0;
  const used = deps.db.prepare(
    'SELECT 1 FROM messages WHERE raw_sha256 = ? UNION ALL SELECT 1 FROM attachments WHERE sha256 = ? LIMIT 1',
  );
  let n = 0;
  for (const sha of shas) {
    if (!/^[0-9a-f]{64}$/.test(sha) || used.get(sha, sha)) continue;
    for (const kind of ['raw', 'file'] as const) {
      const file = deps.blobs.pathOf(sha, kind);
      try {
        if (existsSync(file)) {
          rmSync(file, { force: true });
          n++;
        }
      } catch (e) {
        deps.logger.warn({ sha256: sha, err: (e as Error).message }, 'erase: could not delete a blob file');
      }
    }
  }
  return n;
}

/**
 * The whole-installation data rights for the lists' deps: with `dataRights` set, the lists' own
 * exportAddress / eraseAddress (the marketer pages and JSON API call those) cover everything here.
 * In the composition root: createLists({ ..., dataRights: createDataRights({ db, clock, logger, blobs }) }).
 */
export function createDataRights(deps: DataRightsDeps): AddressDataRights {
  return {
    exportAddress: (email) => exportEverything(deps, email),
    eraseAddress: (email) => eraseEverything(deps, email),
  };
}
