import type { FetchMessageObject, ImapFlow } from 'imapflow';
import type { Clock, Logger } from '../lib/index.ts';
import type { Db } from '../store/index.ts';
import type { IngestPipeline } from './pipeline.ts';
import { clearError, readCheckpoint, recordPoll, uidGaps, writeCheckpoint } from './status.ts';

export interface SyncAccount {
  id: string;
  after_ingest: 'leave' | 'flag' | 'move';
  flag: string;
  move_to?: string | undefined;
  history: string;
}

export interface SyncDeps {
  db: Db;
  pipeline: IngestPipeline;
  clock: Clock;
  logger: Logger;
  batchSize: number;
  maxMessageBytes: number;
  /** Stop early (shutdown) between messages. */
  stopping: () => boolean;
}

/** Small messages are fetched together with their source, up to this many bytes per FETCH. */
const SOURCE_BATCH_BYTES = 8 * 1024 * 1024;
/** Above this, a message is streamed with download() instead of buffered by FETCH BODY[]. */
const STREAM_ABOVE_BYTES = 2 * 1024 * 1024;

function sinceDate(history: string): Date | null {
  const m = /^since (\d{4}-\d{2}-\d{2})$/.exec(history);
  return m?.[1] ? new Date(`${m[1]}T00:00:00Z`) : null;
}

async function searchUids(client: ImapFlow, query: Parameters<ImapFlow['search']>[0]): Promise<number[]> {
  const res = await client.search(query, { uid: true });
  return Array.isArray(res) ? res.sort((a, b) => a - b) : [];
}

/**
 * Where ingest starts on a mailbox it has no checkpoint for. Only mail arriving from now on
 * unless the account asks for history: adding a mailbox must never flood the inbox with years of
 * old mail, and nothing on the server is touched to decide it.
 */
async function firstLastUid(client: ImapFlow, history: string, uidNext: number): Promise<number> {
  if (history === 'all') return 0;
  const since = sinceDate(history);
  if (since) {
    const uids = await searchUids(client, { since });
    return uids.length ? (uids[0] as number) - 1 : uidNext - 1;
  }
  return uidNext - 1;
}

/**
 * One idempotent pass over one mailbox: fetch every UID above the checkpoint in bounded batches,
 * ingest each (the checkpoint moves in the message's own transaction), then apply after-ingest
 * actions outside any FETCH iterator (commands inside one deadlock imapflow).
 */
export async function syncMailbox(
  client: ImapFlow,
  account: SyncAccount,
  mailbox: string,
  deps: SyncDeps,
): Promise<{ ingested: number }> {
  const { db, clock } = deps;
  const log = deps.logger.child({ account: account.id, mailbox });
  const lock = await client.getMailboxLock(mailbox, { readOnly: account.after_ingest === 'leave' });
  let ingested = 0;
  try {
    const mb = client.mailbox;
    if (!mb) throw new Error(`mailbox ${mailbox} is not open`);
    // BigInt from imapflow: kept as text (JSON and SQLite integers would lose or refuse it).
    const uidValidity = String(mb.uidValidity);
    let cp = readCheckpoint(db, account.id, mailbox);
    if (!cp) {
      cp = { uidValidity, lastUid: await firstLastUid(client, account.history, mb.uidNext) };
      writeCheckpoint(db, account.id, mailbox, cp, clock.now());
      log.info({ lastUid: cp.lastUid, history: account.history }, 'mailbox connected for the first time');
    } else if (cp.uidValidity !== uidValidity) {
      // RFC 3501 2.3.1.1: a new UIDVALIDITY means every old UID is meaningless. Fetch again from
      // the start of the configured history; messages already stored come back as duplicates.
      log.warn({ old: cp.uidValidity, now: uidValidity }, 'UIDVALIDITY changed; resyncing mailbox');
      const since = sinceDate(account.history);
      const startUid =
        account.history === 'new' ? await resyncStartForNew(client, db, account.id, mailbox) : since ? -1 : 0;
      cp = {
        uidValidity,
        lastUid: startUid >= 0 ? startUid : await firstLastUid(client, account.history, mb.uidNext),
      };
      writeCheckpoint(db, account.id, mailbox, cp, clock.now());
    }

    await repairAfterIngest(client, account, mailbox, cp, deps);

    const pending = (await searchUids(client, { uid: `${cp.lastUid + 1}:*` })).filter((u) => u > cp.lastUid);
    ingested = await ingestPending(client, account, mailbox, uidValidity, pending, deps);
    const all = await searchUids(client, { all: true });
    const now = readCheckpoint(db, account.id, mailbox) ?? cp;
    recordPoll(
      db,
      { account: account.id, mailbox },
      {
        serverMessages: client.mailbox ? client.mailbox.exists : all.length,
        uidNext: client.mailbox ? client.mailbox.uidNext : null,
        gaps: uidGaps(db, { account: account.id, mailbox, ...now }, all),
        at: clock.now(),
      },
    );
    clearError(db, { account: account.id, mailbox });
    if (ingested) log.info({ ingested }, 'mailbox synced');
    return { ingested };
  } finally {
    lock.release();
  }
}

/** For history "new": resync only what arrived since the mailbox was first connected. */
async function resyncStartForNew(
  client: ImapFlow,
  db: Db,
  account: string,
  mailbox: string,
): Promise<number> {
  const row = db
    .prepare('SELECT min(at) first FROM ingest_uids WHERE account = ? AND mailbox = ?')
    .get(account, mailbox) as { first: number | null };
  const uidNext = client.mailbox ? client.mailbox.uidNext : 1;
  if (row.first === null) return uidNext - 1;
  const uids = await searchUids(client, { since: new Date(row.first - 2 * 86_400_000) });
  return uids.length ? (uids[0] as number) - 1 : uidNext - 1;
}

/** What the reader hands the writer: a run of small messages with their sources, or one big one. */
type Segment =
  | { kind: 'small'; uids: number[]; fetched: FetchMessageObject[] }
  | { kind: 'oversize'; uid: number; size: number }
  | { kind: 'stream'; uid: number };

/**
 * Reads the pending UIDs in batches: sizes first, then one FETCH of the sources of each run of
 * small messages (at most SOURCE_BATCH_BYTES); big ones are left to the writer to stream.
 */
async function* readSegments(client: ImapFlow, pending: number[], deps: SyncDeps): AsyncGenerator<Segment> {
  for (let i = 0; i < pending.length && !deps.stopping(); i += deps.batchSize) {
    const batch = pending.slice(i, i + deps.batchSize);
    const meta: Array<{ uid: number; size: number }> = [];
    for await (const m of client.fetch(batch.join(','), { uid: true, size: true }, { uid: true }))
      meta.push({ uid: m.uid, size: m.size ?? 0 });
    meta.sort((a, b) => a.uid - b.uid);
    let k = 0;
    while (k < meta.length && !deps.stopping()) {
      const m = meta[k] as { uid: number; size: number };
      if (m.size > deps.maxMessageBytes || m.size > STREAM_ABOVE_BYTES) {
        yield m.size > deps.maxMessageBytes
          ? { kind: 'oversize', uid: m.uid, size: m.size }
          : { kind: 'stream', uid: m.uid };
        k++;
        continue;
      }
      const uids: number[] = [];
      let bytes = 0;
      while (k < meta.length) {
        const n = meta[k] as { uid: number; size: number };
        if (n.size > STREAM_ABOVE_BYTES || (uids.length && bytes + n.size > SOURCE_BATCH_BYTES)) break;
        uids.push(n.uid);
        bytes += n.size;
        k++;
      }
      const fetched: FetchMessageObject[] = [];
      for await (const f of client.fetch(uids.join(','), { uid: true, source: true }, { uid: true }))
        fetched.push(f);
      fetched.sort((a, b) => a.uid - b.uid);
      yield { kind: 'small', uids, fetched };
    }
  }
}

/**
 * Runs `source` one item ahead of its consumer: while the writer stores one segment, the next is
 * being fetched (imapflow queues the writer's own commands behind it; the reader drains each
 * FETCH completely before it yields, so nothing waits on an unfinished iterator). Memory stays
 * bounded to two segments.
 */
async function* readAhead<T>(source: AsyncGenerator<T>): AsyncGenerator<T> {
  let next = source.next();
  try {
    for (;;) {
      const r = await next;
      if (r.done) return;
      next = source.next();
      // Awaited on the next turn or in finally; without this an early stop would leave it unhandled.
      next.catch(() => {});
      yield r.value;
    }
  } finally {
    await next.catch(() => {});
    await source.return(undefined).catch(() => {});
  }
}

/**
 * Reads ahead and stores in order; after-ingest actions follow each stored run. Stops (without
 * moving the checkpoint further) at shutdown or when a UID vanished in a way that is not a plain
 * expunge, so the checkpoint never passes a message that was not stored.
 */
async function ingestPending(
  client: ImapFlow,
  account: SyncAccount,
  mailbox: string,
  uidValidity: string,
  pending: number[],
  deps: SyncDeps,
): Promise<number> {
  const log = deps.logger.child({ account: account.id, mailbox });
  const src = (uid: number, serverSize?: number) => ({
    kind: 'imap' as const,
    checkpoint: { account: account.id, mailbox, uidValidity, uid },
    ...(serverSize !== undefined ? { serverSize } : {}),
  });
  let ingested = 0;
  for await (const seg of readAhead(readSegments(client, pending, deps))) {
    if (deps.stopping()) break;
    const done: number[] = [];
    if (seg.kind === 'oversize') {
      const h = await client.fetchOne(String(seg.uid), { uid: true, headers: true }, { uid: true });
      const headers = h ? (h.headers ?? Buffer.from('')) : Buffer.from('');
      await deps.pipeline.ingestRaw(headers, src(seg.uid, seg.size));
      done.push(seg.uid);
    } else if (seg.kind === 'stream') {
      const d = await client.download(String(seg.uid), undefined, { uid: true });
      if (d.content) {
        await deps.pipeline.ingestRaw(d.content, src(seg.uid));
        done.push(seg.uid);
      }
    } else {
      const fetched = seg.fetched.filter((f) => f.source);
      const stored = await deps.pipeline.ingestMany(
        fetched.map((f) => ({ raw: f.source as Buffer, source: src(f.uid) })),
        { stopping: deps.stopping },
      );
      done.push(...fetched.slice(0, stored.length).map((f) => f.uid));
    }
    ingested += done.length;
    await afterIngest(client, account, done, log);
    if (deps.stopping()) break;
    // A UID expunged between SEARCH and FETCH is simply gone; anything else missing stops here.
    if (
      seg.kind === 'small' &&
      seg.fetched.length < seg.uids.length &&
      seg.fetched.length &&
      (seg.fetched.at(-1)?.uid ?? 0) < (seg.uids.at(-1) ?? 0)
    )
      break;
  }
  return ingested;
}

async function afterIngest(
  client: ImapFlow,
  account: SyncAccount,
  uids: number[],
  log: Logger,
): Promise<void> {
  if (!uids.length || account.after_ingest === 'leave') return;
  const range = uids.join(',');
  try {
    if (account.after_ingest === 'flag') await client.messageFlagsAdd(range, [account.flag], { uid: true });
    else if (account.move_to) await client.messageMove(range, account.move_to, { uid: true });
  } catch (err) {
    // The messages are stored; the action is retried by repairAfterIngest on the next sync.
    log.warn({ err, count: uids.length }, 'after-ingest action failed; will retry');
  }
}

/** Messages stored before a crash or failure but not yet flagged/moved get their action now. */
async function repairAfterIngest(
  client: ImapFlow,
  account: SyncAccount,
  mailbox: string,
  cp: { uidValidity: string; lastUid: number },
  deps: SyncDeps,
): Promise<void> {
  if (account.after_ingest === 'leave' || cp.lastUid < 1) return;
  const query: Parameters<ImapFlow['search']>[0] =
    account.after_ingest === 'move'
      ? { uid: `1:${cp.lastUid}` }
      : account.flag === '\\Seen'
        ? { uid: `1:${cp.lastUid}`, seen: false }
        : { uid: `1:${cp.lastUid}`, unKeyword: account.flag };
  const onServer = await searchUids(client, query);
  const seen = deps.db.prepare(
    'SELECT 1 FROM ingest_uids WHERE account = ? AND mailbox = ? AND uid_validity = ? AND uid = ?',
  );
  const todo = onServer.filter((u) => seen.get(account.id, mailbox, cp.uidValidity, u) !== undefined);
  await afterIngest(client, account, todo, deps.logger);
}
