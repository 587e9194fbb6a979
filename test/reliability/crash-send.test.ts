/**
 * Crash safety of sending: a mailroom process queues a burst of order confirmations and sends them
 * through the real SMTP peer; it is SIGKILLed at seeded random points (by mails the peer has
 * accepted, plus a few during start-up and queueing) and started again, until the burst is done.
 *
 * What the outbox design promises (src/outbound/send-job.ts), and what is asserted:
 *   - a row marked `sent` was delivered exactly once;
 *   - a row the kill caught between committing send_stage = 'data_sent' (just before the last
 *     chunk of DATA) and recording the server's reply ends `uncertain`: never resent, so it was
 *     delivered at most once (once if the peer had the whole message, zero if the kill came before
 *     the last bytes left). That window is the price of never sending a mail twice;
 *   - nothing else: no row is left queued or sending, no Message-ID arrives twice, ever.
 * integrity_check passes after every kill.
 *
 * Scale (env): MAILROOM_CRASH_SEND_KILLS (default 20), MAILROOM_CRASH_SEND_MAILS (default 200),
 * MAILROOM_CRASH_SEED.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, systemClock } from '../../src/lib/index.ts';
import { queueMail } from '../../src/outbound/index.ts';
import { createEmbeddedQueue } from '../../src/queue/index.ts';
import { listMigrations, migrate, openDatabase, schemaVersion } from '../../src/store/index.ts';
import { type SmtpPeer, startSmtpPeer, tempDir } from '../harness/index.ts';
import {
  type Child,
  crashSeed,
  duplicates,
  envInt,
  HERE,
  integrity,
  killPlan,
  label,
  messageIdOf,
  prng,
  reach,
  sigkill,
  sleep,
  spawnNode,
  tally,
  withDb,
  writeConfig,
} from './crash-kit.ts';

const KILLS = envInt('MAILROOM_CRASH_SEND_KILLS', 20);
const N = envInt('MAILROOM_CRASH_SEND_MAILS', 200);
const CHILD = path.join(HERE, 'crash-child.ts');

interface Row {
  message_id: string;
  to_addr: string;
  status: string;
  send_stage: string;
}

describe('crash safety: a send burst under SIGKILL', () => {
  let peer: SmtpPeer;
  beforeAll(async () => {
    peer = await startSmtpPeer();
  });
  afterAll(async () => {
    await peer?.close();
  });

  it(`delivers every sent mail exactly once, the data_sent window at most once, across ${KILLS} kills`, {
    timeout: 240_000,
  }, async () => {
    const seed = crashSeed('crash-send');
    const rand = prng(seed);
    const dir = tempDir('mailroom-crash-send-');
    const dbFile = path.join(dir, 'data', 'mailroom.sqlite');
    const config = writeConfig(dir, {
      data_dir: './data',
      log_level: 'warn',
      mail: { domain: 'shop.example', from: 'Lotus Tea House <support@shop.example>' },
      smtp: { host: peer.host, port: peer.port, max_connections: 2, timeout_s: 10 },
      queue: { concurrency: 4 },
    });
    // The peer holds each 250 reply back a little, so kills often land after the whole message
    // reached the peer but before the sender heard back: the window exactly-once cannot close.
    peer.setFaults([{ kind: 'stall', ms: 15 }]);
    const run = (): Child => spawnNode(CHILD, ['burst', config, String(N)]);
    const peerIds = () => peer.received.map((m) => messageIdOf(m.raw));

    const plan = killPlan(rand, KILLS, N);
    const history: string[] = [];
    for (const [i, k] of plan.entries()) {
      const child = run();
      await reach(k, child, dbFile, () => peer.received.length, `run ${i}`);
      await sleep(Math.floor(rand() * 20));
      expect(child.alive(), `the sender exited by itself: ${child.output().slice(-3000)}`).toBe(true);
      await sigkill(child);
      history.push(`${label(k)}:${peer.received.length}`);
      if (!existsSync(dbFile)) continue; // killed before the database was created
      expect(integrity(dbFile), `integrity_check after kill ${i}`).toBe('ok');
      if (withDb(dbFile, (db) => schemaVersion(db)) < listMigrations().length) continue; // mid-migration
      // At every point: nothing arrived twice, and every row marked sent has arrived.
      expect(duplicates(peerIds()), `kill ${i}`).toEqual([]);
      const sent = withDb(dbFile, (db) =>
        (db.prepare("SELECT message_id FROM outbox WHERE status = 'sent'").all() as Row[]).map(
          (r) => r.message_id,
        ),
      );
      const have = new Set(peerIds());
      expect(
        sent.filter((id) => !have.has(id)),
        `kill ${i}: rows marked sent but not at the peer`,
      ).toEqual([]);
    }
    console.log(`[crash-send] kills (point:delivered at kill): ${history.join(' ')}`);

    // The last start finishes the burst and exits 0 by itself.
    const last = run();
    expect(await last.exited, last.output().slice(-3000)).toBe(0);
    expect(integrity(dbFile)).toBe('ok');
    await sleep(300); // stalled sessions of the killed runs finish on the peer

    const rows = withDb(
      dbFile,
      (db) =>
        db.prepare('SELECT message_id, to_addr, status, send_stage FROM outbox ORDER BY id').all() as Row[],
    );
    expect(rows).toHaveLength(N);
    expect(rows.filter((r) => r.status !== 'sent' && r.status !== 'uncertain')).toEqual([]);
    const counts = tally(peerIds());
    expect(duplicates(peerIds())).toEqual([]);
    const byId = new Map(rows.map((r) => [r.message_id, r]));
    expect(
      [...counts.keys()].filter((id) => !byId.has(id)),
      'mail at the peer that no outbox row made',
    ).toEqual([]);
    for (const r of rows) {
      const n = counts.get(r.message_id) ?? 0;
      if (r.status === 'sent') expect(n, `${r.message_id} (sent)`).toBe(1);
      else expect(n, `${r.message_id} (uncertain)`).toBeLessThanOrEqual(1);
    }
    // Per recipient too: nobody got two confirmations.
    expect(duplicates(peer.received.flatMap((m) => m.to))).toEqual([]);
    const uncertain = rows.filter((r) => r.status === 'uncertain');
    console.log(
      `[crash-send] ${N} mails: ${N - uncertain.length} sent exactly once; ${uncertain.length} uncertain ` +
        `(${uncertain.filter((r) => counts.has(r.message_id)).length} of them delivered, ` +
        `${uncertain.filter((r) => !counts.has(r.message_id)).length} lost in the data_sent window)`,
    );
  });

  it('a mail committed to the outbox but never enqueued (killed in between) is sent after the restart', async () => {
    const dir = tempDir('mailroom-crash-stranded-');
    const dbFile = path.join(dir, 'data', 'mailroom.sqlite');
    const config = writeConfig(dir, {
      data_dir: './data',
      log_level: 'warn',
      mail: { domain: 'shop.example', from: 'Lotus Tea House <support@shop.example>' },
      smtp: { host: peer.host, port: peer.port, timeout_s: 10 },
    });
    peer.setFaults([]);
    const before = peer.received.length;
    // The state a kill between queueMail's commit and its enqueue leaves: the row, and no job.
    const db = openDatabase(dbFile);
    migrate(db);
    const queue = createEmbeddedQueue({ db, clock: systemClock, logger: silentLogger() });
    await queue.close(0);
    const compose = {
      domain: 'shop.example',
      from: 'Lotus Tea House <support@shop.example>',
      departments: {},
    };
    await expect(
      queueMail(
        { db, queue, clock: systemClock, logger: silentLogger(), compose },
        {
          kind: 'test',
          idempotencyKey: 'stranded-1',
          to: 'stranded@customer.example',
          subject: 'Hi',
          html: '<p>Hi</p>',
          text: 'Hi\n',
        },
      ),
    ).rejects.toThrow(/closed/);
    expect(db.prepare("SELECT status FROM outbox WHERE idempotency_key = 'stranded-1'").get()).toEqual({
      status: 'queued',
    });
    expect(db.prepare('SELECT count(*) AS n FROM jobs').get()).toEqual({ n: 0 });
    db.close();

    // A restart with nothing new to queue: the outbox relay finds the row and it goes out, once.
    const child = spawnNode(CHILD, ['burst', config, '0']);
    expect(await child.exited, child.output().slice(-3000)).toBe(0);
    const got = peer.received.slice(before);
    expect(got.map((m) => m.to)).toEqual([['stranded@customer.example']]);
    expect(withDb(dbFile, (d) => d.prepare('SELECT status FROM outbox').all())).toEqual([{ status: 'sent' }]);
  });
});
