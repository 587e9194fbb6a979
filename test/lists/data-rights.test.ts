import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import {
  confirmSubscription,
  createCampaign,
  createList,
  eraseAddress,
  expandCampaign,
  exportAddress,
  exportListCsv,
  importCsv,
  isErased,
  parseCsv,
  progress,
  subscribe,
} from '../../src/lists/index.ts';
import { linkFrom, setupLists, type TestLists } from './helpers.ts';

const CSV = readFileSync(path.join(PROJECT_ROOT, 'test/fixtures/lists/import.csv'), 'utf8');
let dbs: TestLists[] = [];
afterEach(() => {
  for (const t of dbs) t.db.close();
  dbs = [];
});
function world() {
  const t = setupLists();
  dbs.push(t);
  const list = createList(t.db, { slug: 'news', name: 'News', consentWording: 'Send me news' }, 1);
  return { t, list };
}
const statusOf = (t: TestLists, email: string) =>
  (
    t.db
      .prepare(
        `SELECT m.status FROM list_memberships m JOIN subscribers s ON s.id = m.subscriber_id WHERE s.email = ?`,
      )
      .get(email) as { status: string } | undefined
  )?.status;

describe('data rights', () => {
  it('an import never confirms a double opt-in list silently: addresses go pending and get a confirmation mail', async () => {
    const { t } = world();
    const r = await importCsv(t.deps, { slug: 'news', csv: CSV, source: 'import' });
    expect(r).toEqual({
      confirmed: 0,
      pending: 2,
      unchanged: 0,
      skipped: [
        { line: 4, reason: 'not an email address' },
        { line: 5, reason: 'duplicate' },
      ],
    });
    expect(statusOf(t, 'ann@example.com')).toBe('pending');
    expect(statusOf(t, 'bo@example.com')).toBe('pending');
    expect(t.outbox.map((m) => m.to).sort()).toEqual(['ann@example.com', 'bo@example.com']);
    const bo = t.db
      .prepare(`SELECT name, locale, attributes FROM subscribers WHERE email = 'bo@example.com'`)
      .get();
    expect(bo).toEqual({ name: 'Bo, "Jr"', locale: 'zh-CN', attributes: '{"city":"上海"}' });
    // The confirmation link in the mail confirms with source "import".
    const bomail = t.outbox.find((m) => m.to === 'bo@example.com');
    const token = new URL(`https://x${linkFrom(bomail?.text ?? '', '/lists/confirm')}`).searchParams.get(
      'token',
    );
    await confirmSubscription(t.deps, token ?? '', {});
    expect(statusOf(t, 'bo@example.com')).toBe('confirmed');
  });

  it('imports as confirmed only with the wording people agreed to elsewhere, and records it', async () => {
    const { t } = world();
    await expect(
      importCsv(t.deps, { slug: 'news', csv: CSV, source: 'import', consent: 'confirmed-elsewhere' }),
    ).rejects.toThrow(/consent wording/);
    const r = await importCsv(t.deps, {
      slug: 'news',
      csv: CSV,
      source: 'staff',
      consent: 'confirmed-elsewhere',
      wording: 'Ticked "news by mail" at the shop counter form, 2025',
    });
    expect(r.confirmed).toBe(2);
    expect(t.outbox).toHaveLength(0);
    const consent = exportAddress(t.deps, 'ann@example.com').consents as Array<Record<string, unknown>>;
    expect(consent).toEqual([
      expect.objectContaining({
        action: 'confirm',
        source: 'staff',
        wording: 'Ticked "news by mail" at the shop counter form, 2025',
      }),
    ]);
  });

  it('exports a list as CSV and everything about one address as JSON', async () => {
    const { t } = world();
    await subscribe(t.deps, {
      slug: 'news',
      email: 'cy@example.com',
      name: '=cmd()',
      source: 'form',
      ip: '10.0.0.1',
    });
    const rows = parseCsv(exportListCsv(t.deps, 'news'));
    expect(rows[0]).toEqual([
      'email',
      'name',
      'locale',
      'status',
      'confirmed_at',
      'unsubscribed_at',
      'attributes',
    ]);
    expect(rows[1]?.slice(0, 4)).toEqual(['cy@example.com', "'=cmd()", '', 'pending']);
    const all = exportAddress(t.deps, 'CY@example.com');
    expect(all).toMatchObject({
      email: 'cy@example.com',
      erased: false,
      memberships: [expect.objectContaining({ slug: 'news', status: 'pending' })],
      consents: [
        expect.objectContaining({
          action: 'request',
          source: 'form',
          ip: '10.0.0.1',
          wording: 'Send me news',
        }),
      ],
    });
  });

  it('erase keeps only a hash: the address is gone, never imported or mailed again', async () => {
    const { t, list } = world();
    await importCsv(t.deps, {
      slug: 'news',
      csv: CSV,
      source: 'staff',
      consent: 'confirmed-elsewhere',
      wording: 'w',
    });
    eraseAddress(t.deps, 'Ann@example.com');
    expect(isErased(t.db, 'ann@example.com')).toBe(true);
    const dump =
      JSON.stringify(t.db.prepare('SELECT * FROM subscribers').all()) +
      JSON.stringify(t.db.prepare('SELECT * FROM list_consents').all());
    expect(dump).not.toContain('ann@');
    const again = await importCsv(t.deps, { slug: 'news', csv: CSV, source: 'import' });
    expect(again.skipped).toContainEqual({ line: 2, reason: 'erased' });
    expect(await subscribe(t.deps, { slug: 'news', email: 'ann@example.com', source: 'form' })).toBe(
      'ignored',
    );
    const c = createCampaign(t.db, { name: 'C', listIds: [list.id], template: 'n', subject: 'S' }, 1);
    await expandCampaign(t.deps, c.id);
    expect(progress(t.db, c.id)).toMatchObject({ total: 1, pending: 1 });
    expect(t.outbox).toHaveLength(0);
  });
});
