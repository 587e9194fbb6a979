/**
 * Crash safety of ingest: `mailroom start` (the real binary, with a config file) ingests 1,000
 * messages from Dovecot and is SIGKILLed at seeded random points of its progress, then started
 * again. After every kill the SQLite file passes integrity_check and no message is stored twice;
 * at the end every message is stored exactly once and the last start shuts down cleanly.
 *
 * Scale (env): MAILROOM_CRASH_INGEST_KILLS (default 20), MAILROOM_CRASH_INGEST_MESSAGES (default
 * 1000), MAILROOM_CRASH_SEED to replay a run's kill points.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMigrations, schemaVersion } from '../../src/store/index.ts';
import {
  createLoginReadyUser,
  dovecotInfo,
  freePort,
  type SmtpPeer,
  startSmtpPeer,
  tempDir,
} from '../harness/index.ts';
import {
  type Child,
  crashSeed,
  duplicates,
  envInt,
  fillInbox,
  integrity,
  killPlan,
  label,
  MAILROOM_BIN,
  messageIdOf,
  poller,
  prng,
  reach,
  sigkill,
  sleep,
  spawnNode,
  until,
  withDb,
  writeConfig,
} from './crash-kit.ts';

const KILLS = envInt('MAILROOM_CRASH_INGEST_KILLS', 20);
const N = envInt('MAILROOM_CRASH_INGEST_MESSAGES', 1000);
const SENDERS = 10;

interface Planned {
  raw: string;
  messageId: string | null;
  root: boolean;
  attachment: boolean;
}

/**
 * The mailbox: mostly plain customer mail from a few senders, some replies threading onto earlier
 * mail, some with an attachment, and a few without a Message-ID (stored under a hash key, the
 * dedupe path most likely to store a re-fetched message twice).
 */
function mailbox(rand: () => number, n: number): Planned[] {
  const out: Planned[] = [];
  for (let i = 0; i < n; i++) {
    const from = `customer${i % SENDERS}@customer.example`;
    const noId = i % 37 === 5;
    const reply = i > 10 && !noId && rand() < 0.2;
    const withIds = out.filter((p) => p.messageId);
    const parent = reply ? withIds[Math.floor(rand() * withIds.length)] : undefined;
    const attachment = !reply && rand() < 0.1;
    const id = noId ? null : `ingest-${i}@customer.example`;
    const subject = parent ? `Re: question ${out.indexOf(parent)}` : `question ${i}`;
    const head = [
      `From: Customer ${i % SENDERS} <${from}>`,
      'To: support@shop.example',
      `Subject: ${subject}`,
      `Date: Mon, 5 Jan 2026 10:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')} +0000`,
      ...(id ? [`Message-ID: <${id}>`] : []),
      ...(parent?.messageId
        ? [`In-Reply-To: <${parent.messageId}>`, `References: <${parent.messageId}>`]
        : []),
      'MIME-Version: 1.0',
    ];
    const text = `Hello, this is message ${i}.\r\nWhere is my order ${1000 + i}?\r\n`;
    const raw = attachment
      ? [
          ...head,
          'Content-Type: multipart/mixed; boundary="b1"',
          '',
          '--b1',
          'Content-Type: text/plain; charset=utf-8',
          '',
          text,
          '--b1',
          `Content-Type: application/pdf; name="invoice-${i}.pdf"`,
          'Content-Transfer-Encoding: base64',
          `Content-Disposition: attachment; filename="invoice-${i}.pdf"`,
          '',
          Buffer.from(`%PDF-1.4 invoice ${i} `.repeat(40)).toString('base64'),
          '--b1--',
          '',
        ].join('\r\n')
      : [...head, 'Content-Type: text/plain; charset=utf-8', '', text].join('\r\n');
    out.push({ raw, messageId: id, root: !parent, attachment });
  }
  return out;
}

const dovecot = dovecotInfo();

describe.skipIf(!dovecot)('crash safety: ingest of a 1,000-message mailbox under SIGKILL', () => {
  let peer: SmtpPeer;
  beforeAll(async () => {
    peer = await startSmtpPeer();
  });
  afterAll(async () => {
    await peer?.close();
  });

  it(`stores every message exactly once across ${KILLS} kills, integrity_check ok after each`, {
    timeout: 240_000,
  }, async () => {
    const seed = crashSeed('crash-ingest');
    const rand = prng(seed);
    const server = dovecot as NonNullable<typeof dovecot>;
    const user = await createLoginReadyUser(server);
    const planned = mailbox(rand, N);
    await fillInbox(
      server,
      user,
      planned.map((p) => p.raw),
    );

    const dir = tempDir('mailroom-crash-ingest-');
    const dbFile = path.join(dir, 'data', 'mailroom.sqlite');
    const config = writeConfig(dir, {
      data_dir: './data',
      log_level: 'info',
      mail: { domain: 'shop.example', from: 'Shop <support@shop.example>' },
      imap: {
        batch_size: 100,
        accounts: [
          {
            id: 'shop',
            host: server.host,
            port: server.port,
            tls: 'none',
            user: user.user,
            password_env: 'CRASH_IMAP_PASSWORD',
            history: 'all',
            poll_interval_s: 3600,
          },
        ],
      },
      // Acknowledgements for the ten senders go to the peer: a restarted mailroom must not
      // send one twice either.
      smtp: { host: peer.host, port: peer.port, timeout_s: 10 },
    });
    const env = { CRASH_IMAP_PASSWORD: user.pass, MAILROOM_PORT: String(await freePort()) };
    const start = (): Child => spawnNode(MAILROOM_BIN, ['start', '--config', config], env);

    const stored = "SELECT count(*) AS n FROM messages WHERE direction = 'in'";
    const watch = poller(dbFile);
    const plan = killPlan(rand, KILLS, N);
    const history: string[] = [];
    try {
      for (const [i, k] of plan.entries()) {
        const child = start();
        await reach(k, child, dbFile, () => watch.count(stored) ?? 0, `run ${i}`);
        // Land the kill at a random moment inside the work rather than right at the poll.
        await sleep(Math.floor(rand() * 25));
        expect(child.alive(), `mailroom exited by itself: ${child.output().slice(-3000)}`).toBe(true);
        await sigkill(child);
        if (!existsSync(dbFile)) {
          history.push(`${label(k)}:no-db-yet`);
          continue; // killed before the database was created: nothing to check
        }
        const check = integrity(dbFile);
        expect(check, `integrity_check after kill ${i}`).toBe('ok');
        if (withDb(dbFile, (db) => schemaVersion(db)) < listMigrations().length) {
          // Killed while migrating: each migration is its own transaction, the next start goes on.
          history.push(`${label(k)}:migrating`);
          continue;
        }
        const state = withDb(dbFile, (db) => ({
          messages: (db.prepare(stored).get() as { n: number }).n,
          uids: (
            db.prepare("SELECT count(*) AS n FROM ingest_uids WHERE status = 'stored'").get() as { n: number }
          ).n,
          dupUids: (
            db.prepare("SELECT count(*) AS n FROM ingest_uids WHERE status = 'duplicate'").get() as {
              n: number;
            }
          ).n,
        }));
        history.push(`${label(k)}:${state.messages}`);
        // Each stored message moved its UID in the same transaction; nothing was taken in twice.
        expect(state.uids, `kill ${i}`).toBe(state.messages);
        expect(state.dupUids, `kill ${i}`).toBe(0);
      }
      console.log(`[crash-ingest] kills (point:stored after kill): ${history.join(' ')}`);

      // The last start runs to the end and stops gracefully: back to normal without a manual step.
      const last = start();
      await until(
        `all ${N} stored (output: ${last.output().slice(-2000)})`,
        // Started, too: the kills may have left all N stored already, and a SIGTERM before the
        // process has its signal handlers is Node's default death, not a shutdown to test.
        () =>
          last.output().includes('mailroom started') &&
          watch.count(stored) === N &&
          !!watch.count(
            'SELECT count(*) AS n FROM ingest_mailbox_status WHERE server_messages IS NOT NULL AND last_error IS NULL',
          ),
        120_000,
        20,
      );
      last.proc.kill('SIGTERM');
      expect(await last.exited, last.output().slice(-3000)).toBe(0);
    } finally {
      watch.close();
    }

    expect(integrity(dbFile)).toBe('ok');
    const final = withDb(dbFile, (db) => ({
      ids: (
        db.prepare("SELECT message_id AS id FROM messages WHERE direction = 'in'").all() as Array<{
          id: string;
        }>
      ).map((r) => r.id),
      uids: (db.prepare('SELECT uid FROM ingest_uids ORDER BY uid').all() as Array<{ uid: number }>).map(
        (r) => r.uid,
      ),
      lastUid: (db.prepare('SELECT last_uid AS n FROM ingest_checkpoints').get() as { n: number }).n,
      attachments: (db.prepare('SELECT count(*) AS n FROM attachments').get() as { n: number }).n,
      conversations: (
        db.prepare('SELECT count(*) AS n FROM conversations WHERE linked_to IS NULL').get() as { n: number }
      ).n,
      blobs: (
        db.prepare("SELECT raw_sha256 AS s FROM messages WHERE direction = 'in'").all() as Array<{
          s: string;
        }>
      ).map((r) => r.s),
      acks: db
        .prepare("SELECT message_id AS id, status FROM outbox WHERE kind = 'acknowledgement'")
        .all() as Array<{
        id: string;
        status: string;
      }>,
    }));
    expect(final.ids).toHaveLength(N);
    expect(duplicates(final.ids)).toEqual([]);
    const withId = planned.filter((p) => p.messageId).map((p) => p.messageId as string);
    expect(final.ids.filter((id) => !id.endsWith('.synthetic@shop.example')).sort()).toEqual(withId.sort());
    expect(final.uids).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(final.lastUid).toBe(N);
    expect(final.attachments).toBe(planned.filter((p) => p.attachment).length);
    // Replies found the conversation of their parent, even when the parent came in before a crash.
    expect(final.conversations).toBe(planned.filter((p) => p.root).length);
    for (const sha of new Set(final.blobs))
      expect(existsSync(path.join(dir, 'data', 'blobs', sha.slice(0, 2), `${sha}.eml.gz`))).toBe(true);
    // A kill mid-write leaves a temp file in blobs/tmp (never under a real name); reported, not
    // asserted: they cost disk only.
    const leftovers = readdirSync(path.join(dir, 'data', 'blobs', 'tmp')).length;
    console.log(`[crash-ingest] ${leftovers} partial blob temp file(s) left in blobs/tmp by the kills`);

    // Acknowledgements: at most one per sender in the window, none delivered twice, and every
    // one marked sent actually arrived.
    const ackSummary = withDb(dbFile, (db) =>
      db.prepare('SELECT to_addr, status, count(*) AS n FROM outbox GROUP BY 1, 2').all(),
    );
    expect(final.acks.length, JSON.stringify(ackSummary)).toBeLessThanOrEqual(SENDERS);
    const atPeer = peer.received.map((m) => messageIdOf(m.raw));
    expect(duplicates(atPeer)).toEqual([]);
    for (const a of final.acks.filter((x) => x.status === 'sent')) expect(atPeer).toContain(a.id);
  });
});
