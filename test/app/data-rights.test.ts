import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDataRights, eraseEverything, exportEverything } from '../../src/app/data-rights.ts';
import {
  applyOrderEvent,
  parseOrderEventInput,
  parseOrderInput,
  saveSegment,
  setTags,
  setVip,
  upsertOrder,
} from '../../src/customers/index.ts';
import {
  type BlobStore,
  createBlobStore,
  createIngestPipeline,
  type IngestConfig,
} from '../../src/ingest/index.ts';
import { ManualClock, silentLogger } from '../../src/lib/index.ts';
import {
  confirmSubscription,
  createCampaign,
  createList,
  eraseAddress,
  expandCampaign,
  exportAddress,
  type ListsDeps,
  progress,
  recordOpen,
  subscribe,
  suppressionReason,
} from '../../src/lists/index.ts';
import { addSuppression, type OutboxDeps, sendStaffReply } from '../../src/outbound/index.ts';
import { createEmbeddedQueue, type JobQueue } from '../../src/queue/index.ts';
import { type Db, migrate, openDatabase } from '../../src/store/index.ts';
import { tempDir } from '../harness/index.ts';

const ANN = 'annabel@example.com';
const NAME = 'Annabel Quist';
const BOB = 'bob@example.net';

const ingestConfig: IngestConfig = {
  mail: {
    domain: 'shop.example',
    from: 'Shop Support <support@shop.example>',
    default_department: 'customer_service',
    own_addresses: ['support@shop.example'],
  },
  imap: { max_message_bytes: 25 * 1024 * 1024 },
};

/** A multipart mail with one attachment (base64). */
function mail(
  h: Record<string, string>,
  text: string,
  attachment?: { name: string; content: string },
): Buffer {
  const head = Object.entries({ To: 'support@shop.example', Date: 'Mon, 05 Jan 2026 10:00:00 +0000', ...h })
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n');
  if (!attachment)
    return Buffer.from(`${head}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}\r\n`);
  const b = 'BOUNDARY-1';
  return Buffer.from(
    `${head}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${b}"\r\n\r\n` +
      `--${b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}\r\n` +
      `--${b}\r\nContent-Type: application/octet-stream; name="${attachment.name}"\r\n` +
      `Content-Disposition: attachment; filename="${attachment.name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
      `${Buffer.from(attachment.content).toString('base64')}\r\n--${b}--\r\n`,
  );
}

const importSource = { kind: 'import' as const, file: 'test.mbox' };

interface World {
  db: Db;
  blobs: BlobStore;
  clock: ManualClock;
  queue: JobQueue;
  lists: ListsDeps;
  sent: string[];
  ids: {
    annOnly: number;
    shared: number;
    bobMessage: number;
    annRaw: string;
    sharedPdf: string;
    photo: string;
  };
}

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function world(): Promise<World> {
  const dir = tempDir();
  const db = openDatabase(path.join(dir, 'mailroom.sqlite'));
  migrate(db);
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 10));
  const logger = silentLogger();
  const blobs = createBlobStore(path.join(dir, 'blobs'));
  const queue = createEmbeddedQueue({ db, clock, logger, pollMs: 5 });
  cleanups.push(async () => {
    await queue.close(1000);
    db.close();
  });
  const pipeline = createIngestPipeline({ db, blobs, clock, logger, config: ingestConfig });

  // A customer with orders, VIP and a segment, first from the shop.
  upsertOrder(
    db,
    parseOrderInput({
      id: 'A-1001',
      email: 'Annabel@Example.com',
      name: NAME,
      locale: 'zh-TW',
      currency: 'EUR',
      amount_cents: 4200,
      items: [{ sku: 'TEA-1', name: 'Oolong tea', quantity: 2, unit_cents: 2100 }],
      payment_instructions: `Bank transfer, reference "A-1001 ${NAME}"`,
    }),
    clock.now(),
  );
  applyOrderEvent(
    db,
    'A-1001',
    parseOrderEventInput({ event_id: 'ev-1', type: 'paid', payload: { payer: NAME, email: ANN } }),
    clock.now(),
  );
  const customerId = (db.prepare('SELECT id FROM customers WHERE email = ?').get(ANN) as { id: number }).id;
  setVip(db, customerId, true);
  setTags(db, customerId, ['wholesale']);
  saveSegment(db, 'vip', 'VIP customers', { vip: true }, clock.now());
  saveSegment(db, 'big', 'Big spenders', { min_total_cents: 100_000 }, clock.now());

  // Her own conversation, with a photo.
  const m1 = await pipeline.ingestRaw(
    mail(
      { From: `${NAME} <${ANN}>`, Subject: 'Order A-1001 arrived broken', 'Message-ID': '<m1@example.com>' },
      `The teapot in order A-1001 is broken. Regards, ${NAME}`,
      { name: 'photo.jpg', content: 'PHOTO OF THE BROKEN TEAPOT' },
    ),
    importSource,
  );
  clock.advance(60_000);
  // A conversation she shares with Bob: she writes (Cc Bob), Bob answers all and quotes her.
  const m2 = await pipeline.ingestRaw(
    mail(
      {
        From: `${NAME} <${ANN}>`,
        Cc: `Bob Stone <${BOB}>`,
        Subject: 'Group order for the tea club',
        'Message-ID': '<m2@example.com>',
      },
      'Bob and I would like to order together.',
      { name: 'club-list.pdf', content: 'SHARED CLUB LIST' },
    ),
    importSource,
  );
  clock.advance(60_000);
  const m3 = await pipeline.ingestRaw(
    mail(
      {
        From: `Bob Stone <${BOB}>`,
        Cc: `${NAME} <${ANN}>`,
        Subject: 'Re: Group order for the tea club',
        'Message-ID': '<m3@example.net>',
        'In-Reply-To': '<m2@example.com>',
        References: '<m2@example.com>',
      },
      `Agreed. On Monday, ${NAME} <${ANN}> wrote: Bob and I would like to order together.`,
      { name: 'club-list.pdf', content: 'SHARED CLUB LIST' },
    ),
    importSource,
  );
  expect(m3.conversationId).toBe(m2.conversationId);
  db.prepare('INSERT INTO notes (conversation_id, author, body, created_at) VALUES (?, ?, ?, ?)').run(
    m1.conversationId,
    'staff1',
    `${NAME} called about the teapot`,
    clock.now(),
  );

  // Our reply to her: an outbox row (and its job, still waiting).
  const outbox: OutboxDeps = {
    db,
    queue,
    clock,
    logger,
    compose: { domain: 'shop.example', from: 'Shop Support <support@shop.example>', departments: {} },
  };
  await sendStaffReply(outbox, {
    conversationId: m1.conversationId,
    author: 'staff1',
    text: `Dear ${NAME}, a new teapot is on its way.`,
  });
  addSuppression(db, { address: ANN, reason: 'complaint', source: 'test', at: clock.now() });

  // A subscription with consent (after the customer record: linked), a campaign send and an open.
  const sent: string[] = [];
  const lists: ListsDeps = {
    db,
    clock,
    logger,
    secret: 'test-secret-0123456789abcdef',
    publicUrl: 'https://shop.example',
    mailDomain: 'shop.example',
    from: 'news@shop.example',
    send: async (m) => {
      sent.push(m.text);
    },
  };
  const list = createList(db, { slug: 'news', name: 'Tea news', consentWording: 'Send me tea news' }, 1);
  await subscribe(lists, { slug: 'news', email: ANN, name: NAME, source: 'form', ip: '10.1.2.3' });
  const token = /token=([0-9a-z.]+)/.exec(sent[0] ?? '')?.[1] ?? '';
  await confirmSubscription(lists, token, { ip: '10.1.2.3', userAgent: 'Browser/1' });
  const campaign = createCampaign(
    db,
    { name: 'Spring teas', listIds: [list.id], template: 'news', subject: 'Spring', tracking: true },
    clock.now(),
  );
  await expandCampaign(lists, campaign.id);
  const sendToken = (
    db.prepare('SELECT token FROM campaign_sends WHERE email = ?').get(ANN) as { token: string }
  ).token;
  expect(recordOpen(lists, sendToken)).toBe(true);

  const rawOf = (id: number) =>
    (db.prepare('SELECT raw_sha256 FROM messages WHERE id = ?').get(id) as { raw_sha256: string }).raw_sha256;
  const att = (name: string) =>
    (db.prepare('SELECT sha256 FROM attachments WHERE filename = ? LIMIT 1').get(name) as { sha256: string })
      .sha256;
  return {
    db,
    blobs,
    clock,
    queue,
    lists,
    sent,
    ids: {
      annOnly: m1.conversationId,
      shared: m2.conversationId,
      bobMessage: m3.messageId,
      annRaw: rawOf(m1.messageId),
      sharedPdf: att('club-list.pdf'),
      photo: att('photo.jpg'),
    },
  };
}

/** Every text (and blob, read as text) value in every table that contains `needle`, case-insensitively. */
function occurrences(db: Db, needle: string): string[] {
  const hits: string[] = [];
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    .all() as Array<{ name: string }>;
  for (const { name } of tables) {
    for (const row of db.prepare(`SELECT * FROM "${name}"`).all() as Array<Record<string, unknown>>) {
      for (const [col, v] of Object.entries(row)) {
        const text = typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : null;
        if (text?.toLowerCase().includes(needle.toLowerCase())) hits.push(`${name}.${col}`);
      }
    }
  }
  return hits;
}

describe('data rights for one address across the installation', () => {
  it('exports the customer record, orders, mail, outbox, suppressions and list data', async () => {
    const w = await world();
    const all = exportEverything({ db: w.db }, 'ANNABEL@example.com');
    expect(all.email).toBe(ANN);
    expect(all.erased).toBe(false);
    expect(all.customer).toMatchObject({
      email: ANN,
      name: NAME,
      vip: true,
      segments: ['wholesale'],
      savedSegments: [{ id: 'vip', name: 'VIP customers' }],
    });
    expect(all.orders).toEqual([
      expect.objectContaining({
        external_id: 'A-1001',
        status: 'paid',
        amount_cents: 4200,
        items: [expect.objectContaining({ sku: 'TEA-1' })],
        events: [
          expect.objectContaining({ event_id: 'ev-1', type: 'paid', payload: { payer: NAME, email: ANN } }),
        ],
      }),
    ]);
    const convs = all.conversations as Array<{
      id: number;
      yours: boolean;
      messages: Array<{ direction: string; from: string | null }>;
      staffNotes: unknown[];
    }>;
    const own = convs.find((c) => c.id === w.ids.annOnly);
    const shared = convs.find((c) => c.id === w.ids.shared);
    expect(own?.yours).toBe(true);
    expect(own?.messages.map((m) => m.direction)).toEqual(['in', 'out']);
    expect(own?.messages[0]).toMatchObject({
      from: ANN,
      fromName: NAME,
      subject: 'Order A-1001 arrived broken',
      text: expect.stringContaining('teapot'),
      attachments: [expect.objectContaining({ filename: 'photo.jpg', size: 26 })],
    });
    expect(own?.staffNotes).toEqual([expect.objectContaining({ body: `${NAME} called about the teapot` })]);
    // In the shared conversation: what she sent and what she received (Bob's reply, Cc to her).
    expect(shared?.messages.map((m) => m.from)).toEqual([ANN, BOB]);
    expect(all.outbox).toEqual([
      expect.objectContaining({ to_addr: ANN, kind: 'staff_reply', raw: expect.stringContaining('teapot') }),
    ]);
    expect(all.suppressions).toEqual([expect.objectContaining({ address: ANN, reason: 'complaint' })]);
    expect(all.subscriber).toMatchObject({ email: ANN, name: NAME });
    expect(all.memberships).toEqual([expect.objectContaining({ slug: 'news', status: 'confirmed' })]);
    expect(all.consents).toEqual([
      expect.objectContaining({
        action: 'request',
        wording: 'Send me tea news',
        ip: '10.1.2.3',
        locale: 'en',
      }),
      expect.objectContaining({ action: 'confirm', wording: 'Send me tea news', user_agent: 'Browser/1' }),
    ]);
    expect(all.campaignSends).toEqual([expect.objectContaining({ campaign: 'Spring teas' })]);
    expect(all.campaignEvents).toEqual([expect.objectContaining({ campaign: 'Spring teas', kind: 'open' })]);
    // The lists' own export (marketer pages, JSON API) answers the same once the app wires it in.
    const wired = {
      ...w.lists,
      dataRights: createDataRights({ db: w.db, clock: w.clock, logger: silentLogger(), blobs: w.blobs }),
    };
    expect(exportAddress(wired, ANN)).toEqual(all);
  });

  it("erases everything but a hash, keeps pseudonymised orders and the other sender's mail, and frees unshared blobs", async () => {
    const w = await world();
    expect(occurrences(w.db, ANN).length).toBeGreaterThan(10);
    const blob = (sha: string, kind: 'raw' | 'file') => existsSync(w.blobs.pathOf(sha, kind));
    expect(blob(w.ids.annRaw, 'raw')).toBe(true);
    expect(blob(w.ids.photo, 'file')).toBe(true);
    expect(blob(w.ids.sharedPdf, 'file')).toBe(true);
    const bobRaw = (
      w.db.prepare('SELECT raw_sha256 FROM messages WHERE id = ?').get(w.ids.bobMessage) as {
        raw_sha256: string;
      }
    ).raw_sha256;

    // Somewhere no erase step knows about: the final sweep finds it.
    w.db
      .prepare('INSERT INTO campaign_notices (campaign_id, kind, message, at) VALUES (1, ?, ?, 0)')
      .run('complaint', `Complaint from ${ANN.toUpperCase()} about Spring teas`);
    const report = eraseEverything(
      { db: w.db, clock: w.clock, logger: silentLogger(), blobs: w.blobs },
      'Annabel@EXAMPLE.com',
    );
    expect(report).toMatchObject({
      customerRecords: 1,
      ordersPseudonymised: 1,
      messagesDeleted: 3, // her two mails and our reply to her
      messagesRedacted: 1, // Bob's reply quoting her
      conversationsDeleted: 1,
      conversationsKept: 1,
      outboxDeleted: 1,
      subscriber: true,
      swept: { 'campaign_notices.message': 1 },
    });
    expect(w.db.prepare('SELECT message FROM campaign_notices').get()).toEqual({
      message: 'Complaint from [erased] about Spring teas',
    });

    // Nothing names her any more, in any column of any table.
    expect(occurrences(w.db, ANN)).toEqual([]);
    expect(occurrences(w.db, NAME)).toEqual([]);
    expect(
      w.db.prepare('SELECT rowid FROM messages_fts WHERE messages_fts MATCH \'"Annabel"\'').all(),
    ).toEqual([]);
    expect(w.db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(w.db.pragma('foreign_key_check')).toEqual([]);

    // Bob's message stays, in a conversation that is now his.
    const bob = w.db
      .prepare(
        'SELECT m.from_addr, m.cc_addrs, m.text_body, m.raw_sha256, c.customer_id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ?',
      )
      .get(w.ids.bobMessage) as Record<string, unknown>;
    const bobCustomer = (w.db.prepare('SELECT id FROM customers WHERE email = ?').get(BOB) as { id: number })
      .id;
    expect(bob).toMatchObject({ from_addr: BOB, customer_id: bobCustomer, raw_sha256: null });
    expect(bob.text_body).toBe(
      'Agreed. On Monday, [erased] <[erased]> wrote: Bob and I would like to order together.',
    );
    expect(w.db.prepare('SELECT count(*) AS n FROM messages').get()).toEqual({ n: 1 });
    expect(w.db.prepare('SELECT id FROM conversations').all()).toEqual([{ id: w.ids.shared }]);
    expect(w.db.prepare('SELECT count(*) AS n FROM notes').get()).toEqual({ n: 0 });
    expect(w.db.prepare('SELECT count(*) AS n FROM jobs').get()).toEqual({ n: 0 });

    // Blobs: her raw mail and her photo are gone; the PDF Bob also sent stays.
    expect(blob(w.ids.annRaw, 'raw')).toBe(false);
    expect(blob(w.ids.photo, 'file')).toBe(false);
    expect(blob(w.ids.sharedPdf, 'file')).toBe(true);
    // Bob's raw copy named her (Cc, quote): only the redacted parsed copy is kept.
    expect(blob(bobRaw, 'raw')).toBe(false);

    // The order stays for bookkeeping, unlinked and without personal fields.
    expect(
      w.db
        .prepare(
          'SELECT customer_id, locale, amount_cents, status, erased_at, payment_instructions FROM orders',
        )
        .get(),
    ).toEqual({
      customer_id: null,
      locale: null,
      amount_cents: 4200,
      status: 'paid',
      erased_at: w.clock.now(),
      payment_instructions: 'Bank transfer, reference "A-1001 [erased]"',
    });
    expect(w.db.prepare('SELECT event_id, type, payload FROM order_events').get()).toEqual({
      event_id: 'ev-1',
      type: 'paid',
      payload: '{}',
    });
    // The shop sending the order again changes its bookkeeping, not its link to a person.
    upsertOrder(
      w.db,
      parseOrderInput({ id: 'A-1001', email: ANN, name: NAME, currency: 'EUR', amount_cents: 4000 }),
      w.clock.now(),
    );
    expect(w.db.prepare('SELECT customer_id, amount_cents FROM orders').get()).toEqual({
      customer_id: null,
      amount_cents: 4000,
    });
    expect(occurrences(w.db, ANN)).toEqual([]);

    // Only the hash is left, and it keeps her from being mailed again.
    expect(exportEverything({ db: w.db }, ANN)).toMatchObject({
      erased: true,
      customer: null,
      orders: [],
      conversations: [],
      outbox: [],
      suppressions: [],
      subscriber: null,
      consents: [],
      campaignEvents: [],
    });
    expect(suppressionReason(w.lists, ANN)).toBe('erased');
    w.sent.length = 0;
    expect(await subscribe(w.lists, { slug: 'news', email: ANN, source: 'form' })).toBe('ignored');
    expect(w.sent).toEqual([]);
    const list = w.db.prepare("SELECT id FROM lists WHERE slug = 'news'").get() as { id: number };
    const again = createCampaign(
      w.db,
      { name: 'Summer', listIds: [list.id], template: 'news', subject: 'S' },
      w.clock.now(),
    );
    await expandCampaign(w.lists, again.id);
    expect(progress(w.db, again.id)).toMatchObject({ total: 0 });
    // The earlier campaign keeps its count, with the send row's address replaced by the hash.
    expect(w.db.prepare('SELECT email, status FROM campaign_sends').all()).toEqual([
      { email: expect.stringMatching(new RegExp(`^erased-${report.hash}[0-9a-f]{52}$`)), status: 'skipped' },
    ]);
  });

  it("the lists' eraseAddress erases everything once the app wires data rights in", async () => {
    const w = await world();
    const lists = {
      ...w.lists,
      dataRights: createDataRights({ db: w.db, clock: w.clock, logger: silentLogger(), blobs: w.blobs }),
    };
    eraseAddress(lists, ANN);
    expect(occurrences(w.db, ANN)).toEqual([]);
    expect(w.db.prepare('SELECT count(*) AS n FROM customers WHERE email = ?').get(ANN)).toEqual({ n: 0 });
  });
});
