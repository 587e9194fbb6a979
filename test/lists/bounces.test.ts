import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { parseDsn } from '../../src/ingest/index.ts';
import {
  applyArfReport,
  applyBounce,
  createCampaign,
  createCampaignRunner,
  createList,
  expandCampaign,
  listNotices,
  parseArf,
  progress,
  startCampaign,
  subscribe,
  suppressionReason,
} from '../../src/lists/index.ts';
import { setupLists, type TestLists } from './helpers.ts';
import { testQueue } from './test-queue.ts';

const CORPUS = path.resolve(PROJECT_ROOT, '../shared/corpora/bounces');
const ARF_DIR = path.join(CORPUS, 'cfortune-PHP-Bounce-Handler/eml');

let dbs: TestLists[] = [];
afterEach(() => {
  for (const t of dbs) t.db.close();
  dbs = [];
});

function world(settings = {}) {
  const t = setupLists({ settings });
  dbs.push(t);
  const list = createList(t.db, { slug: 'news', name: 'News', consentWording: 'ok', optin: 'single' }, 1);
  return { t, list };
}

/** The message/delivery-status part of a raw DSN, as the ingest pipeline hands it to parseDsn. */
function deliveryStatus(raw: string): string {
  const m =
    /content-type:\s*message\/delivery-status[^\n]*\r?\n(?:[^\n]+\r?\n)*?\r?\n([\s\S]*?)(?:\r?\n--|$)/i.exec(
      raw,
    );
  if (!m) throw new Error('no delivery-status part');
  return m[1] as string;
}

function membership(t: TestLists, email: string): string | undefined {
  return (
    t.db
      .prepare(
        `SELECT m.status FROM list_memberships m JOIN subscribers s ON s.id = m.subscriber_id WHERE s.email = ?`,
      )
      .get(email) as { status: string } | undefined
  )?.status;
}

describe.skipIf(readdirSync(CORPUS, { withFileTypes: true }).length === 0)('bounces and complaints', () => {
  it('a hard bounce from a real DSN suppresses the address; the next campaign skips it', async () => {
    const { t, list } = world();
    const dsn = parseDsn(deliveryStatus(readFileSync(path.join(ARF_DIR, '5.1.1.eml'), 'utf8')));
    const r = dsn?.recipients[0];
    expect(r).toMatchObject({ recipient: 'someuser@somedomain.com', kind: 'hard', status: '5.1.1' });
    await subscribe(t.deps, { slug: 'news', email: 'someuser@somedomain.com', source: 'staff' });
    await subscribe(t.deps, { slug: 'news', email: 'fine@example.com', source: 'staff' });
    expect(
      applyBounce(t.deps, { recipient: r?.recipient ?? '', status: r?.status ?? '', hard: true }).suppressed,
    ).toBe(true);
    expect(suppressionReason(t.deps, 'SomeUser@somedomain.com')).toBe('bounced');
    const c = createCampaign(t.db, { name: 'C', listIds: [list.id], template: 'n', subject: 'S' }, 1);
    await expandCampaign(t.deps, c.id);
    expect(progress(t.db, c.id)).toMatchObject({ pending: 1, skipped: 1 });
  });

  it('soft bounces suppress only after the third within the window', () => {
    const { t } = world();
    const dsn = parseDsn(
      deliveryStatus(readFileSync(path.join(CORPUS, 'jhillyerd-enmime/dsn/testdata/simple_dsn.raw'), 'utf8')),
    );
    const r = dsn?.recipients[0];
    expect(r?.kind).toBe('soft');
    const results = [1, 2, 3].map(() => {
      t.clock.advance(3600_000);
      return applyBounce(t.deps, { recipient: r?.recipient ?? '', status: r?.status ?? '', hard: false })
        .suppressed;
    });
    expect(results).toEqual([false, false, true]);
    expect(suppressionReason(t.deps, 'louisl@larry.slip.umd.edu')).toBe('bounced');
  });

  it('the VERP token ties a bounce to its send row; > 5% hard bounces auto-pause with a notice', async () => {
    const { t, list } = world({ thresholdMinSample: 10, ratePerSecond: 1000, perDomainPerSecond: 1000 });
    for (let i = 0; i < 40; i++)
      await subscribe(t.deps, { slug: 'news', email: `b${i}@example.com`, source: 'staff' });
    const queue = testQueue();
    const runner = createCampaignRunner({ deps: t.deps, queue });
    const c = createCampaign(t.db, { name: 'Spring', listIds: [list.id], template: 'n', subject: 'S' }, 1);
    startCampaign(t.db, c.id, t.clock.now());
    await runner.tick();
    t.db
      .prepare(
        `UPDATE campaign_sends SET status = 'pending' WHERE id IN (SELECT id FROM campaign_sends ORDER BY id DESC LIMIT 20)`,
      )
      .run();
    runner.work();
    await queue.drain();
    expect(progress(t.db, c.id).sent).toBe(20);
    // The bounce names the envelope token only (a rewritten recipient): still finds the row.
    for (const m of t.outbox.slice(0, 2)) {
      const token = /bounces\+([0-9a-f]+)@/.exec(m.envelopeFrom ?? '')?.[1];
      applyBounce(t.deps, {
        recipient: 'rewritten@relay.example',
        status: '5.1.1',
        hard: true,
        sendToken: token,
      });
    }
    const p = progress(t.db, c.id);
    expect(p).toMatchObject({ status: 'paused', bounced: 2, sent: 18 });
    expect(listNotices(t.db, c.id)[0]?.message).toMatch(/paused: hard-bounce rate 10\.00% is above 5\.00%/);
    expect(await runner.tick()).toBe(0);
  });

  it('parses the ARF and feedback-loop reports of the corpus to the complained-about recipient', () => {
    const expected: Record<string, { type: string; recipients: string[] }> = {
      'arf1.txt': { type: 'abuse', recipients: [] },
      'arf2.txt': { type: 'opt-out', recipients: ['user@example.com'] },
      'arf3.txt': { type: 'abuse', recipients: ['user@example.com'] },
      'arf4.txt': { type: 'abuse', recipients: ['giribhantana@yahoo.com'] },
      'arf5.txt': { type: 'abuse', recipients: ['redacted@aol.com'] },
      'arf6.txt': { type: 'abuse', recipients: ['masterblastervarun@hotmail.com'] },
      'fbl-aol.txt': { type: 'abuse', recipients: ['redacted@aol.com'] },
      'fbl-comcast.txt': { type: 'abuse', recipients: ['redacted@comcast.net'] },
      'fbl-hotmail.txt': { type: 'abuse', recipients: ['somerecipient@hotmail.com'] },
      'fbl-yahoo.txt': { type: 'abuse', recipients: ['someuser@yahoo.com'] },
    };
    const files = readdirSync(ARF_DIR).filter((f) => /^(arf|fbl-).*\.txt$/.test(f));
    expect(files.sort()).toEqual(Object.keys(expected).sort());
    for (const f of files) {
      const r = parseArf(readFileSync(path.join(ARF_DIR, f), 'utf8'));
      expect({ file: f, type: r.feedbackType, recipients: r.recipients }).toEqual({
        file: f,
        ...expected[f],
      });
    }
  });

  it('a complaint unsubscribes the address from every list', async () => {
    const { t } = world();
    createList(t.db, { slug: 'deals', name: 'Deals', consentWording: 'ok', optin: 'single' }, 1);
    for (const slug of ['news', 'deals'])
      await subscribe(t.deps, { slug, email: 'someuser@yahoo.com', source: 'staff' });
    const done = applyArfReport(t.deps, readFileSync(path.join(ARF_DIR, 'fbl-yahoo.txt'), 'utf8'));
    expect(done).toEqual(['someuser@yahoo.com']);
    const statuses = t.db.prepare(`SELECT status FROM list_memberships`).all() as Array<{ status: string }>;
    expect(statuses.map((s) => s.status)).toEqual(['unsubscribed', 'unsubscribed']);
    expect(membership(t, 'someuser@yahoo.com')).toBe('unsubscribed');
    expect(suppressionReason(t.deps, 'someuser@yahoo.com')).toBe('complained');
  });

  it('a complaint found by the VERP token in the reported mail counts against its campaign and auto-pauses it', async () => {
    const { t, list } = world({ thresholdMinSample: 10, ratePerSecond: 1000, perDomainPerSecond: 1000 });
    for (let i = 0; i < 30; i++)
      await subscribe(t.deps, { slug: 'news', email: `k${i}@example.com`, source: 'staff' });
    const queue = testQueue();
    const runner = createCampaignRunner({ deps: t.deps, queue });
    runner.work();
    const c = createCampaign(t.db, { name: 'Autumn', listIds: [list.id], template: 'n', subject: 'S' }, 1);
    startCampaign(t.db, c.id, t.clock.now());
    await runner.tick();
    await queue.drain();
    const victim = t.outbox[3];
    // The provider redacted the recipient; only our Return-Path in the reported copy names the send.
    const report = readFileSync(path.join(ARF_DIR, 'fbl-yahoo.txt'), 'utf8')
      .replace(/^Original-Rcpt-To: .*$/m, '')
      .replace(/"someuser@yahoo.com" <someuser@yahoo.com>/g, 'redacted')
      .replace('X-Apparently-To: someuser@yahoo.com', 'X-Apparently-To: redacted')
      .replace('X-RCPT-TO: <someuser@yahoo.com>', 'X-RCPT-TO: redacted')
      .replace('Return-Path: <support@ourdomain.com>', `Return-Path: <${victim?.envelopeFrom}>`);
    expect(parseArf(report).recipients).toEqual([]);
    expect(applyArfReport(t.deps, report)).toEqual([victim?.to]);
    expect(progress(t.db, c.id)).toMatchObject({ complaints: 1 });
    expect(suppressionReason(t.deps, victim?.to ?? '')).toBe('complained');
    expect(listNotices(t.db, c.id)[0]?.message).toMatch(/complaint rate 3\.333% is above 0\.100%/);
  });
});
