/**
 * Crash safety of a campaign: the dispatcher (expand, throttle, enqueue) and the workers (render,
 * outbox, SMTP) run in one mailroom process that is SIGKILLed at seeded random points of the
 * campaign and started again, until the campaign is done. Every subscriber gets the mail exactly
 * once, except a mail the kill caught in the outbox's data_sent window (see crash-send.test.ts),
 * which ends `uncertain` and arrived at most once. integrity_check passes after every kill.
 *
 * Scale (env): MAILROOM_CRASH_CAMPAIGN_KILLS (default 20), MAILROOM_CRASH_CAMPAIGN_RECIPIENTS
 * (default 300), MAILROOM_CRASH_SEED.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, systemClock } from '../../src/lib/index.ts';
import {
  createCampaign,
  createList,
  type ListsDeps,
  startCampaign,
  subscribe,
} from '../../src/lists/index.ts';
import { migrate, openDatabase } from '../../src/store/index.ts';
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

const KILLS = envInt('MAILROOM_CRASH_CAMPAIGN_KILLS', 20);
const N = envInt('MAILROOM_CRASH_CAMPAIGN_RECIPIENTS', 300);
const CHILD = path.join(HERE, 'crash-child.ts');

describe('crash safety: a campaign under SIGKILL', () => {
  let peer: SmtpPeer;
  beforeAll(async () => {
    peer = await startSmtpPeer();
  });
  afterAll(async () => {
    await peer?.close();
  });

  it(`mails every subscriber exactly once (data_sent window: at most once) across ${KILLS} kills`, {
    timeout: 240_000,
  }, async () => {
    const seed = crashSeed('crash-campaign');
    const rand = prng(seed);
    const dir = tempDir('mailroom-crash-campaign-');
    const dbFile = path.join(dir, 'data', 'mailroom.sqlite');
    const config = writeConfig(dir, {
      data_dir: './data',
      log_level: 'warn',
      mail: { domain: 'shop.example', from: 'Lotus Tea House <news@shop.example>' },
      smtp: { host: peer.host, port: peer.port, max_connections: 2, timeout_s: 10 },
      queue: { concurrency: 4 },
    });

    // The list and the campaign, made through the lists API before mailroom starts.
    const db = openDatabase(dbFile);
    migrate(db);
    const deps: ListsDeps = {
      db,
      clock: systemClock,
      logger: silentLogger(),
      secret: 'crash-test-secret-0123456789',
      publicUrl: 'https://shop.example',
      mailDomain: 'shop.example',
      from: 'news@shop.example',
      send: async () => {},
    };
    const list = createList(
      db,
      { slug: 'tea-notes', name: 'Tea notes', consentWording: 'Yes please', optin: 'single' },
      Date.now(),
    );
    for (let i = 0; i < N; i++)
      await subscribe(deps, { slug: 'tea-notes', email: `reader${i}@example.net`, source: 'staff' });
    const campaign = createCampaign(
      db,
      { name: 'Spring harvest', listIds: [list.id], template: 'newsletter', subject: 'Spring harvest' },
      Date.now(),
    );
    startCampaign(db, campaign.id, Date.now());
    db.close();

    peer.setFaults([{ kind: 'stall', ms: 15 }]);
    const run = (): Child => spawnNode(CHILD, ['campaign', config, String(campaign.id)]);
    const recipients = () => peer.received.flatMap((m) => m.to);

    const plan = killPlan(rand, KILLS, N);
    const history: string[] = [];
    for (const [i, k] of plan.entries()) {
      const child = run();
      await reach(k, child, dbFile, () => peer.received.length, `run ${i}`);
      await sleep(Math.floor(rand() * 20));
      expect(child.alive(), `the campaign process exited by itself: ${child.output().slice(-3000)}`).toBe(
        true,
      );
      await sigkill(child);
      history.push(`${label(k)}:${peer.received.length}`);
      expect(integrity(dbFile), `integrity_check after kill ${i}`).toBe('ok');
      expect(duplicates(recipients()), `kill ${i}`).toEqual([]);
    }
    console.log(`[crash-campaign] kills (point:delivered at kill): ${history.join(' ')}`);

    const last = run();
    expect(await last.exited, last.output().slice(-3000)).toBe(0);
    expect(integrity(dbFile)).toBe('ok');
    await sleep(300); // stalled sessions of the killed runs finish on the peer

    const final = withDb(dbFile, (d) => ({
      campaign: (
        d.prepare('SELECT status FROM campaigns WHERE id = ?').get(campaign.id) as { status: string }
      ).status,
      sends: d.prepare('SELECT status, count(*) AS n FROM campaign_sends GROUP BY status').all() as Array<{
        status: string;
        n: number;
      }>,
      outbox: d
        .prepare("SELECT message_id, to_addr, status FROM outbox WHERE kind = 'campaign'")
        .all() as Array<{
        message_id: string;
        to_addr: string;
        status: string;
      }>,
    }));
    expect(final.campaign).toBe('done');
    expect(final.sends).toEqual([{ status: 'sent', n: N }]);
    expect(final.outbox).toHaveLength(N);
    expect(final.outbox.filter((r) => r.status !== 'sent' && r.status !== 'uncertain')).toEqual([]);
    const byRecipient = tally(recipients());
    expect(duplicates(recipients())).toEqual([]);
    expect(duplicates(peer.received.map((m) => messageIdOf(m.raw)))).toEqual([]);
    for (const r of final.outbox) {
      const n = byRecipient.get(r.to_addr) ?? 0;
      if (r.status === 'sent') expect(n, `${r.to_addr} (sent)`).toBe(1);
      else expect(n, `${r.to_addr} (uncertain)`).toBeLessThanOrEqual(1);
    }
    const uncertain = final.outbox.filter((r) => r.status === 'uncertain');
    console.log(
      `[crash-campaign] ${N} recipients: ${N - uncertain.length} mailed exactly once; ${uncertain.length} uncertain ` +
        `(${uncertain.filter((r) => byRecipient.has(r.to_addr)).length} delivered, ` +
        `${uncertain.filter((r) => !byRecipient.has(r.to_addr)).length} lost in the data_sent window)`,
    );
  });
});
