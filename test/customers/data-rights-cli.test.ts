import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOrderInput, upsertOrder } from '../../src/customers/index.ts';
import { createBlobStore } from '../../src/ingest/index.ts';
import { openDatabase } from '../../src/store/index.ts';
import { runCli, tempDir } from '../harness/index.ts';

const cli = (args: string[], dataDir: string) =>
  runCli(args, { MAILROOM_DATA_DIR: dataDir, MAILROOM_LOG_LEVEL: 'silent' });

describe('mailroom customers export / erase and list consent wordings', () => {
  it('exports and erases everything about one address from the command line', async () => {
    const dir = tempDir();
    const eml = path.join(dir, 'hello.eml');
    writeFileSync(
      eml,
      'From: Zhou Min <zhou.min@example.com>\r\nTo: support@shop.example\r\nSubject: 发票\r\nMessage-ID: <z1@example.com>\r\n\r\n请开发票。周敏\r\n',
    );
    expect((await cli(['import', eml], dir)).code).toBe(0);
    const db = openDatabase(path.join(dir, 'mailroom.sqlite'));
    upsertOrder(
      db,
      parseOrderInput({ id: 'Z-1', email: 'zhou.min@example.com', currency: 'CNY', amount_cents: 1999 }),
      Date.now(),
    );
    const raw = (db.prepare('SELECT raw_sha256 FROM messages').get() as { raw_sha256: string }).raw_sha256;
    db.close();
    const blobPath = createBlobStore(path.join(dir, 'blobs')).pathOf(raw, 'raw');
    expect(existsSync(blobPath)).toBe(true);

    const exp = await cli(['customers', 'export', 'Zhou.Min@example.com'], dir);
    expect(exp.code).toBe(0);
    const data = JSON.parse(exp.out) as {
      customer: unknown;
      orders: unknown;
      conversations: Array<{ messages: unknown[] }>;
    };
    expect(data.customer).toMatchObject({ email: 'zhou.min@example.com', name: 'Zhou Min' });
    expect(data.orders).toEqual([expect.objectContaining({ external_id: 'Z-1', amount_cents: 1999 })]);
    expect(data.conversations[0]?.messages[0]).toMatchObject({
      subject: '发票',
      text: expect.stringContaining('请开发票'),
    });
    // `lists export-address` is the same export.
    expect(JSON.parse((await cli(['lists', 'export-address', 'zhou.min@example.com'], dir)).out)).toEqual(
      data,
    );

    const erase = await cli(['customers', 'erase', 'zhou.min@example.com'], dir);
    expect(erase.code).toBe(0);
    expect(erase.out).toContain('messages deleted 1');
    expect(existsSync(blobPath)).toBe(false);
    const after = openDatabase(path.join(dir, 'mailroom.sqlite'));
    try {
      expect(after.prepare('SELECT count(*) AS n FROM customers').get()).toEqual({ n: 0 });
      expect(after.prepare('SELECT count(*) AS n FROM messages').get()).toEqual({ n: 0 });
      expect(after.prepare('SELECT external_id, customer_id FROM orders').all()).toEqual([
        { external_id: 'Z-1', customer_id: null },
      ]);
    } finally {
      after.close();
    }
    const again = JSON.parse((await cli(['customers', 'export', 'zhou.min@example.com'], dir)).out);
    expect(again).toMatchObject({ erased: true, customer: null, conversations: [] });
  });

  it('creates a list with consent wordings per language and changes one later', async () => {
    const dir = tempDir();
    const created = await cli(
      [
        'lists',
        'create',
        'news',
        '--name',
        'News',
        '--wording',
        '请每月给我发送新闻',
        '--locale',
        'zh-CN',
        '--wording-zh-tw',
        '請每月寄給我新聞',
      ],
      dir,
    );
    expect(created.code).toBe(0);
    expect((await cli(['lists', 'wording', 'news', 'en', 'Send me the monthly news'], dir)).code).toBe(0);
    const bad = await cli(['lists', 'wording', 'news', 'fr', 'Envoyez-moi'], dir);
    expect(bad.code).not.toBe(0);
    const db = openDatabase(path.join(dir, 'mailroom.sqlite'));
    try {
      expect(db.prepare('SELECT consent_wording, default_locale, consent_wordings FROM lists').get()).toEqual(
        {
          consent_wording: '请每月给我发送新闻',
          default_locale: 'zh-CN',
          consent_wordings: JSON.stringify({ 'zh-TW': '請每月寄給我新聞', en: 'Send me the monthly news' }),
        },
      );
    } finally {
      db.close();
    }
  });
});
