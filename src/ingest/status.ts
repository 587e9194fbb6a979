import type { Db } from '../store/index.ts';

export interface MailboxStatus {
  account: string;
  mailbox: string;
  uidValidity: string | null;
  lastUid: number | null;
  /** Messages in the mailbox at the last sync (null before the first). */
  serverMessages: number | null;
  /** UIDs of this mailbox taken in (stored or duplicate) under the current UIDVALIDITY. */
  ingested: number;
  lastPollAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  /** UIDs at or below lastUid seen on the server but never taken in. */
  uidGaps: number[];
}

interface Row {
  uid_validity: string | null;
  last_uid: number | null;
  server_messages: number | null;
  last_poll_at: number | null;
  last_error: string | null;
  last_error_at: number | null;
  uid_gaps: string | null;
}

export function mailboxStatus(db: Db, account: string, mailbox: string): MailboxStatus {
  const row = db
    .prepare(
      `SELECT c.uid_validity, c.last_uid, s.server_messages, s.last_poll_at, s.last_error, s.last_error_at, s.uid_gaps
       FROM (SELECT ? a, ? m) k
       LEFT JOIN ingest_checkpoints c ON c.account = k.a AND c.mailbox = k.m
       LEFT JOIN ingest_mailbox_status s ON s.account = k.a AND s.mailbox = k.m`,
    )
    .get(account, mailbox) as Row;
  const ingested = row.uid_validity
    ? (
        db
          .prepare(
            'SELECT count(*) n FROM ingest_uids WHERE account = ? AND mailbox = ? AND uid_validity = ?',
          )
          .get(account, mailbox, row.uid_validity) as { n: number }
      ).n
    : 0;
  return {
    account,
    mailbox,
    uidValidity: row.uid_validity,
    lastUid: row.last_uid,
    serverMessages: row.server_messages,
    ingested,
    lastPollAt: row.last_poll_at,
    lastError: row.last_error,
    lastErrorAt: row.last_error_at,
    uidGaps: JSON.parse(row.uid_gaps ?? '[]') as number[],
  };
}

export function allMailboxStatus(
  db: Db,
  accounts: ReadonlyArray<{ id: string; mailboxes: string[] }>,
): MailboxStatus[] {
  return accounts.flatMap((a) => a.mailboxes.map((m) => mailboxStatus(db, a.id, m)));
}

export function recordPoll(
  db: Db,
  key: { account: string; mailbox: string },
  v: { serverMessages: number; uidNext: number | null; gaps: number[]; at: number },
): void {
  db.prepare(
    `INSERT INTO ingest_mailbox_status (account, mailbox, server_messages, uid_next, last_poll_at, uid_gaps)
     VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT(account, mailbox) DO UPDATE SET server_messages = excluded.server_messages,
       uid_next = excluded.uid_next, last_poll_at = excluded.last_poll_at, uid_gaps = excluded.uid_gaps`,
  ).run(key.account, key.mailbox, v.serverMessages, v.uidNext, v.at, JSON.stringify(v.gaps.slice(0, 1000)));
}

export function recordError(
  db: Db,
  key: { account: string; mailbox: string },
  error: string,
  at: number,
): void {
  db.prepare(
    `INSERT INTO ingest_mailbox_status (account, mailbox, last_error, last_error_at) VALUES (?, ?, ?, ?)
     ON CONFLICT(account, mailbox) DO UPDATE SET last_error = excluded.last_error, last_error_at = excluded.last_error_at`,
  ).run(key.account, key.mailbox, error.slice(0, 500), at);
}

export function clearError(db: Db, key: { account: string; mailbox: string }): void {
  db.prepare('UPDATE ingest_mailbox_status SET last_error = NULL WHERE account = ? AND mailbox = ?').run(
    key.account,
    key.mailbox,
  );
}

/** UIDs (up to lastUid) present on the server that were never taken in under this UIDVALIDITY. */
export function uidGaps(
  db: Db,
  key: { account: string; mailbox: string; uidValidity: string; lastUid: number },
  serverUids: number[],
): number[] {
  const seen = db.prepare(
    'SELECT 1 FROM ingest_uids WHERE account = ? AND mailbox = ? AND uid_validity = ? AND uid = ?',
  );
  return serverUids.filter(
    (u) => u <= key.lastUid && seen.get(key.account, key.mailbox, key.uidValidity, u) === undefined,
  );
}

export interface Checkpoint {
  uidValidity: string;
  lastUid: number;
}

export function readCheckpoint(db: Db, account: string, mailbox: string): Checkpoint | null {
  const row = db
    .prepare('SELECT uid_validity, last_uid FROM ingest_checkpoints WHERE account = ? AND mailbox = ?')
    .get(account, mailbox) as { uid_validity: string; last_uid: number } | undefined;
  return row ? { uidValidity: row.uid_validity, lastUid: row.last_uid } : null;
}

/** Sets a checkpoint outright: first connect ("only new mail") and UIDVALIDITY resets. */
export function writeCheckpoint(db: Db, account: string, mailbox: string, cp: Checkpoint, at: number): void {
  db.prepare(
    `INSERT INTO ingest_checkpoints (account, mailbox, uid_validity, last_uid, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT(account, mailbox) DO UPDATE SET uid_validity = excluded.uid_validity,
       last_uid = excluded.last_uid, updated_at = excluded.updated_at`,
  ).run(account, mailbox, cp.uidValidity, cp.lastUid, at);
}
