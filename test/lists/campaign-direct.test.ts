/**
 * Campaign batches sending straight to SMTP (the outbound side's direct list sender, as src/app.ts
 * composes it) against a real SMTP server: one outbox row per mail, no outbound queue job, and the
 * exactly-once stages of the outbound send job kept on the send row.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createMailServices } from '../../src/app/mail-services.ts';
import { loadConfig } from '../../src/config/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import {
  cancelCampaign,
  createCampaign,
  createCampaignRunner,
  createList,
  type DirectListSender,
  getCampaign,
  pauseCampaign,
  progress,
  resumeCampaign,
  startCampaign,
  subscribe,
  unsubscribeByToken,
  unsubscribeLinks,
} from '../../src/lists/index.ts';
import {
  getOutboxByKey,
  getSuppression,
  isSuppressed,
  OUTBOUND_QUEUE,
  sendJobId,
} from '../../src/outbound/index.ts';
import { type SmtpPeer, startSmtpPeer, tempDir } from '../harness/index.ts';
import { setupLists } from './helpers.ts';
import { testQueue } from './test-queue.ts';

let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function world(n: number, settings = {}) {
  const peer = await startSmtpPeer();
  const dir = tempDir();
  const config = loadConfig({
    env: {
      MAILROOM_DATA_DIR: dir,
      MAILROOM_SMTP_HOST: peer.host,
      MAILROOM_SMTP_PORT: String(peer.port),
    },
    cwd: dir,
  });
  const t = setupLists({
    settings: { ratePerSecond: 10_000, perDomainPerSecond: 10_000, ...settings },
  });
  const queue = testQueue();
  const mail = createMailServices({ config, db: t.db, queue, clock: t.clock, logger: silentLogger() });
  t.deps.send = mail.sendListMail;
  t.deps.render = mail.renderForLists;
  t.deps.isSuppressed = (email) => isSuppressed(t.db, email, 'marketing');
  const direct = mail.sendListMail.direct as DirectListSender;
  const list = createList(
    t.db,
    { slug: 'news', name: 'Tea notes', consentWording: 'ok', optin: 'single' },
    1,
  );
  for (let i = 0; i < n; i++)
    await subscribe(t.deps, {
      slug: 'news',
      email: `r${i}@example.com`,
      name: `Reader ${i}`,
      source: 'staff',
    });
  const runner = createCampaignRunner({ deps: t.deps, queue });
  const c = createCampaign(
    t.db,
    { name: 'Spring', listIds: [list.id], template: 'newsletter', subject: 'Spring harvest' },
    t.clock.now(),
  );
  cleanups.push(
    () => peer.close(),
    () => queue.close(),
    () => t.db.close(),
  );
  const rows = () =>
    t.db
      .prepare(
        `SELECT s.id, s.email, s.status, s.error, s.outbox_id, s.attempts, o.status AS outbox, o.send_stage AS stage
         FROM campaign_sends s LEFT JOIN outbox o ON o.id = s.outbox_id WHERE s.campaign_id = ? ORDER BY s.id`,
      )
      .all(c.id) as Array<{
      id: number;
      email: string;
      status: string;
      error: string | null;
      outbox_id: number | null;
      attempts: number;
      outbox: string | null;
      stage: string | null;
    }>;
  const perRecipient = () => {
    const counts = new Map<string, number>();
    for (const m of peer.received) for (const to of m.to) counts.set(to, (counts.get(to) ?? 0) + 1);
    return counts;
  };
  /** Ticks and drains until the campaign is done (the clock moves on, so deferred rows come due). */
  const runToEnd = async (max = 20) => {
    for (let i = 0; i < max && getCampaign(t.db, c.id).status !== 'done'; i++) {
      await runner.tick();
      queue.retryParked();
      await queue.drain();
      t.clock.advance(60_000);
    }
  };
  return { peer, t, queue, runner, direct, campaign: c, list, rows, perRecipient, runToEnd };
}

const untilReceived = async (peer: SmtpPeer, n: number) => {
  await peer.waitFor(n, 10_000);
};

describe('campaign batches sending directly to SMTP', () => {
  it('mails each recipient once from the batch: an outbox row each, no outbound job', async () => {
    const w = await world(12);
    w.runner.work();
    startCampaign(w.t.db, w.campaign.id, w.t.clock.now());
    await w.runToEnd();
    expect(progress(w.t.db, w.campaign.id)).toMatchObject({ status: 'done', sent: 12, total: 12 });
    expect([...w.perRecipient().values()]).toEqual(Array(12).fill(1));
    for (const m of w.peer.received) {
      const head = m.raw.slice(0, m.raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
      expect(head).toMatch(/^List-Unsubscribe: <https:\/\/[^>]+\/u\/[^>]+>, <mailto:unsubscribe\+/m);
      expect(head).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click/m);
      expect(m.from).toMatch(/^bounces\+[0-9a-f]{20}@/);
    }
    const rows = w.rows();
    expect(rows.every((r) => r.status === 'sent' && r.outbox === 'sent' && r.stage === 'done')).toBe(true);
    const outbox = w.t.db
      .prepare(`SELECT kind, category, idempotency_key FROM outbox ORDER BY id`)
      .all() as Array<{ kind: string; category: string; idempotency_key: string }>;
    expect(outbox).toHaveLength(12);
    expect(outbox.every((o) => o.kind === 'campaign' && o.category === 'marketing')).toBe(true);
    expect(outbox.map((o) => o.idempotency_key)).toEqual(rows.map((r) => `campaign-send-${r.id}`));
    const jobs = await w.queue.counts(OUTBOUND_QUEUE);
    expect(jobs.waiting + jobs.active + jobs.completed + jobs.delayed).toBe(0);
  });

  it('a row whose end of DATA was staged before a crash is presumed delivered and never sent again', async () => {
    const w = await world(3);
    startCampaign(w.t.db, w.campaign.id, w.t.clock.now());
    await w.runner.tick(); // expanded and claimed; no worker yet
    const [first] = w.rows();
    if (!first) throw new Error('no rows');
    // What a process killed right after the stage commit leaves behind.
    const composed = await w.direct.compose({
      to: first.email,
      subject: 'Spring harvest',
      html: '<p>x</p>',
      text: 'x\n',
      headers: {},
      idempotencyKey: `campaign-send-${first.id}`,
    });
    w.t.db.transaction(() => {
      const { outboxId } = w.direct.stage(composed, `campaign-send-${first.id}`, w.t.clock.now());
      w.t.db.prepare('UPDATE campaign_sends SET outbox_id = ? WHERE id = ?').run(outboxId, first.id);
    })();
    w.runner.work();
    await w.runToEnd();
    expect(w.perRecipient().has(first.email)).toBe(false);
    expect(w.peer.received).toHaveLength(2);
    expect(w.rows()[0]).toMatchObject({ status: 'sent', outbox: 'uncertain' });
    expect(progress(w.t.db, w.campaign.id)).toMatchObject({ status: 'done', sent: 3 });
  });

  it('a definite temporary refusal after DATA sends the row again later, once, on the same outbox row', async () => {
    const w = await world(4);
    w.peer.setFaults([
      { kind: 'reply', stage: 'data', code: 451, message: '4.3.0 try again later', times: 1 },
    ]);
    w.runner.work();
    startCampaign(w.t.db, w.campaign.id, w.t.clock.now());
    await w.runToEnd();
    expect(progress(w.t.db, w.campaign.id)).toMatchObject({ status: 'done', sent: 4 });
    expect([...w.perRecipient().values()]).toEqual([1, 1, 1, 1]);
    const retried = w.rows().filter((r) => r.attempts > 0);
    expect(retried).toHaveLength(1);
    const o = w.t.db
      .prepare('SELECT status, attempts FROM outbox WHERE id = ?')
      .get(retried[0]?.outbox_id) as { status: string; attempts: number };
    expect(o).toEqual({ status: 'sent', attempts: 2 });
    expect(w.t.db.prepare('SELECT count(*) AS n FROM outbox').get()).toEqual({ n: 4 });
  });

  it('an address refused at RCPT TO is a bounce at send time: suppressed, counted, the others still go', async () => {
    const w = await world(5);
    w.peer.setFaults([{ kind: 'reply', stage: 'rcpt', code: 550, message: '5.1.1 no such user', times: 1 }]);
    w.runner.work();
    startCampaign(w.t.db, w.campaign.id, w.t.clock.now());
    await w.runToEnd();
    const bounced = w.rows().filter((r) => r.status === 'bounced');
    expect(bounced).toHaveLength(1);
    expect(w.peer.received).toHaveLength(4);
    const email = bounced[0]?.email as string;
    expect(getSuppression(w.t.db, email)?.reason).toBe('hard_bounce');
    expect(
      w.t.db.prepare('SELECT status FROM subscribers WHERE email = ?').get(email) as { status: string },
    ).toEqual({ status: 'bounced' });
    expect(progress(w.t.db, w.campaign.id)).toMatchObject({ status: 'done', sent: 4, bounced: 1 });
  });

  it('a server that is unavailable (421) holds the batch; it goes on later without losing or doubling a mail', async () => {
    const w = await world(6);
    w.peer.setFaults([{ kind: 'reply', stage: 'mail', code: 421, message: 'busy', times: 1 }]);
    w.runner.work();
    startCampaign(w.t.db, w.campaign.id, w.t.clock.now());
    await w.runner.tick();
    await w.queue.drain();
    expect(progress(w.t.db, w.campaign.id).queued).toBeGreaterThan(0);
    await w.runToEnd();
    expect(progress(w.t.db, w.campaign.id)).toMatchObject({ status: 'done', sent: 6 });
    expect([...w.perRecipient().values()]).toEqual(Array(6).fill(1));
  });

  it('pause stops a batch before its next mail; resume sends the rest, each once', async () => {
    const w = await world(10);
    w.peer.setFaults([{ kind: 'stall', ms: 60 }]);
    w.runner.work();
    startCampaign(w.t.db, w.campaign.id, w.t.clock.now());
    await w.runner.tick();
    await untilReceived(w.peer, 2);
    pauseCampaign(w.t.db, w.campaign.id, w.t.clock.now());
    await w.queue.drain();
    const atPause = w.peer.received.length;
    expect(atPause).toBeLessThan(10);
    expect(progress(w.t.db, w.campaign.id)).toMatchObject({ status: 'paused', sent: atPause });
    await new Promise((r) => setTimeout(r, 200));
    expect(w.peer.received).toHaveLength(atPause);
    w.peer.setFaults([]);
    resumeCampaign(w.t.db, w.campaign.id, w.t.clock.now());
    await w.runToEnd();
    expect(progress(w.t.db, w.campaign.id)).toMatchObject({ status: 'done', sent: 10 });
    expect([...w.perRecipient().values()]).toEqual(Array(10).fill(1));
  });

  it('an unsubscribe or a cancel while a campaign is under way stops its next mails', async () => {
    const w = await world(4);
    startCampaign(w.t.db, w.campaign.id, w.t.clock.now());
    await w.runner.tick(); // claimed, not sent yet
    const sub = w.t.db.prepare(`SELECT id FROM subscribers WHERE email = 'r2@example.com'`).get() as {
      id: number;
    };
    unsubscribeByToken(
      w.t.deps,
      unsubscribeLinks(w.t.deps, w.list.id, sub.id, 'r2@example.com').token,
      'list',
      {},
    );
    w.runner.work();
    await w.runToEnd();
    expect(w.perRecipient().has('r2@example.com')).toBe(false);
    expect(w.rows().find((r) => r.email === 'r2@example.com')).toMatchObject({
      status: 'skipped',
      error: 'unsubscribed',
    });

    const again = createCampaign(
      w.t.db,
      { name: 'Later', listIds: [w.list.id], template: 'newsletter', subject: 'Later' },
      w.t.clock.now(),
    );
    startCampaign(w.t.db, again.id, w.t.clock.now());
    const before = w.peer.received.length;
    await w.runner.tick(); // claimed into a batch
    cancelCampaign(w.t.db, again.id, w.t.clock.now());
    await w.queue.drain();
    expect(w.peer.received).toHaveLength(before);
    expect(progress(w.t.db, again.id)).toMatchObject({ status: 'cancelled', sent: 0, queued: 0 });
  });

  it('a send row whose mail an older mailroom handed to the outbound queue is counted, not sent again', async () => {
    const w = await world(2);
    startCampaign(w.t.db, w.campaign.id, w.t.clock.now());
    await w.runner.tick();
    const [first] = w.rows();
    if (!first) throw new Error('no rows');
    // Before batches sent directly, a send row went to the outbox as a queued row for the
    // outbound worker, under the same key.
    await w.t.deps.send({
      to: first.email,
      subject: 'Spring harvest',
      html: '<p>x</p>',
      text: 'x\n',
      headers: {},
      idempotencyKey: `campaign-send-${first.id}`,
    });
    // (No outbound worker here: its job is taken away so the test queue can drain.)
    const held = getOutboxByKey(w.t.db, `campaign-send-${first.id}`);
    expect(await w.queue.cancel(OUTBOUND_QUEUE, sendJobId(held?.id as number))).toBe(true);
    w.runner.work();
    await w.runToEnd();
    expect(w.peer.received.map((m) => m.to[0])).toEqual(['r1@example.com']);
    expect(w.rows()[0]).toMatchObject({ status: 'sent', outbox: 'queued' });
  });
});
