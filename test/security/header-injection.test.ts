import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, PROJECT_ROOT } from '../../src/config/index.ts';
import { isMailroomError } from '../../src/lib/index.ts';
import { type SmtpPeer, startSmtpPeer } from '../harness/index.ts';
import { addStaff, type FullApp, type LoggedIn, login, postForm, startFullApp } from './helpers.ts';

/**
 * Header injection through every field of ours that reaches a header of outgoing mail: customer
 * display names and subjects (from real ingested mail, RFC 2047 encoded so they decode to raw
 * CR/LF/NUL/...), template data used in a subject, list names (subject and List-Id), campaign names
 * and subjects, the From name of the config and the departments' Reply-To. Each mail goes the real
 * way (outbox, queue, send worker, SMTP) to a real SMTP server, whose received bytes are parsed.
 * Config values holding a separator are refused at start-up (last test; every key in
 * config-header-values.test.ts), so the config's From name here is hostile text without one.
 */
const SEPARATORS: Record<string, string> = {
  CR: '\r',
  LF: '\n',
  CRLF: '\r\n',
  NUL: '\u0000',
  NEL: '\u0085',
  LS: '\u2028',
  PS: '\u2029',
};
const evil = (sep: string) =>
  `Evil${sep}Bcc: victim@attacker.example${sep}X-Injected: yes${sep}${sep}injected body`;
const CONTROLS = /[\u0000-\u001f\u007f\u0085\u2028\u2029]/;

const BASE = ['Content-Type', 'Date', 'From', 'MIME-Version', 'Message-ID', 'Subject', 'To'];
const EXPECTED_HEADERS: Record<string, string[]> = {
  acknowledgement: [...BASE, 'Auto-Submitted', 'In-Reply-To', 'References', 'Reply-To', 'X-Loop'],
  staff_reply: [...BASE, 'In-Reply-To', 'References', 'Reply-To'],
  'order-confirmation': [...BASE, 'Auto-Submitted', 'X-Loop'],
  'list-confirmation': [...BASE, 'Auto-Submitted'],
  campaign: [
    ...BASE,
    'List-Id',
    'List-Unsubscribe',
    'List-Unsubscribe-Post',
    'Precedence',
    'X-Mailroom-Campaign',
  ],
};

const FROM_NAME = 'Lotus Tea House Bcc: victim@attacker.example';
const departments = ['sales', 'customer_service', 'pr', 'hr', 'finance']
  .map((d) => `    ${d}: { reply_to: ${d.replace('_', '-')}@shop.example }`)
  .join('\n');

let peer: SmtpPeer;
let f: FullApp;
let ada: LoggedIn;
let templatesDir = '';
const expectedMail: Array<{ case: string; kind: string; to: string }> = [];

const b64word = (s: string) => `=?UTF-8?B?${Buffer.from(s).toString('base64')}?=`;

beforeAll(async () => {
  peer = await startSmtpPeer();
  // The shipped templates plus a campaign template without a subject of its own, so the
  // campaign's subject is the one used.
  templatesDir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-hdr-templates-'));
  cpSync(path.join(PROJECT_ROOT, 'templates'), templatesDir, { recursive: true });
  mkdirSync(path.join(templatesDir, 'en', 'plain'));
  writeFileSync(path.join(templatesDir, 'en', 'plain', 'subject.hbs'), '');
  writeFileSync(path.join(templatesDir, 'en', 'plain', 'html.hbs'), '<p>Spring teas are in.</p>\n');
  f = await startFullApp({
    roles: ['web', 'workers'],
    acknowledgeImports: true,
    env: {
      MAILROOM_SMTP_HOST: peer.host,
      MAILROOM_SMTP_PORT: String(peer.port),
      MAILROOM_TEMPLATES_DIR: templatesDir,
    },
    yaml: `mail:\n  domain: shop.example\n  from: ${JSON.stringify(`${FROM_NAME} <support@shop.example>`)}\n  departments:\n${departments}\n`,
  });
  await addStaff(f.db, 'ada', 'admin');
  ada = await login(f.web, 'ada');

  for (const [name, sep] of Object.entries(SEPARATORS)) {
    const bad = evil(sep);
    const customer = `ann-${name.toLowerCase()}@customer.example`;
    // 1. A customer's mail: acknowledged automatically, then answered by staff.
    const raw = Buffer.from(
      [
        `From: ${b64word(`Ann ${bad}`)} <${customer}>`,
        'To: support@shop.example',
        `Subject: ${b64word(`Where is my parcel ${bad}`)}`,
        `Message-ID: <parcel-${name}@customer.example>`,
        'Date: Mon, 05 Jan 2026 11:00:00 +0000',
        '',
        'Hello, where is my parcel?',
        '',
      ].join('\r\n'),
    );
    const stored = await f.app.pipeline.ingestRaw(raw, { kind: 'import', file: `${name}.eml` });
    expect(stored.status).toBe('stored');
    const row = f.db
      .prepare('SELECT conversation_id, subject, from_name FROM messages WHERE message_id = ?')
      .get(`parcel-${name}@customer.example`) as {
      conversation_id: number;
      subject: string;
      from_name: string;
    };
    // What reaches outbound really carries the separator.
    expect(row.subject).toContain(sep);
    expect(row.from_name).toContain(sep);
    expectedMail.push({ case: name, kind: 'acknowledgement', to: customer });
    const reply = await postForm(f.web, ada, `/c/${row.conversation_id}/reply`, { text: 'It ships today.' });
    expect(reply.headers.location).toMatch(/sent=1/);
    expectedMail.push({ case: name, kind: 'staff_reply', to: customer });

    // 2. Template data in a subject, through the path the automations send by.
    const sample = JSON.parse(
      readFileSync(path.join(templatesDir, 'en', 'order-confirmation', 'sample.json'), 'utf8'),
    ) as { order: Record<string, unknown> };
    const buyer = `buyer-${name.toLowerCase()}@customer.example`;
    await f.app.mail.sendTemplate({
      idempotencyKey: `hdr-order-${name}`,
      template: 'order-confirmation',
      locale: 'en',
      to: buyer,
      data: { ...sample, customer: { name: `Bea ${bad}` }, order: { ...sample.order, number: `A-1 ${bad}` } },
      customerId: null,
      kind: 'transactional',
    });
    expectedMail.push({ case: name, kind: 'order-confirmation', to: buyer });

    // 3. A list whose name is hostile: the confirmation mail's subject, then campaigns' List-Id.
    const slug = `list-${name.toLowerCase()}`;
    const created = await f.web.inject({
      method: 'POST',
      url: '/marketing/lists',
      headers: { cookie: ada.cookie, 'x-csrf-token': ada.csrf },
      payload: { slug, name: `News ${bad}`, consentWording: 'Yes, send me news.' },
    });
    expect(created.statusCode).toBe(201);
    const listId = (created.json() as { id: number }).id;
    const reader = `reader-${name.toLowerCase()}@customer.example`;
    const sub = await f.web.inject({
      method: 'POST',
      url: `/lists/${slug}/subscribe`,
      payload: { email: reader },
    });
    expect(sub.statusCode).toBe(202);
    expectedMail.push({ case: name, kind: 'list-confirmation', to: reader });

    // 4. Campaigns with a hostile name and subject (a subject with CR or LF is refused when the
    // campaign is created; then only the name is hostile), by a template with a subject of its own
    // and by one without.
    for (const template of ['newsletter', 'plain']) {
      const create = (subject: string) =>
        f.web.inject({
          method: 'POST',
          url: '/marketing/campaigns',
          headers: { cookie: ada.cookie, 'x-csrf-token': ada.csrf },
          payload: { name: `Spring ${bad}`, subject, template, listIds: [listId] },
        });
      let campaign = await create(`Spring ${bad}`);
      if (campaign.statusCode === 400 && /[\r\n]/.test(sep)) campaign = await create('Spring');
      expect(campaign.statusCode, `${name} ${template}`).toBe(201);
      const tester = `tester-${template}-${name.toLowerCase()}@customer.example`;
      const sent = await f.web.inject({
        method: 'POST',
        url: `/marketing/campaigns/${(campaign.json() as { id: number }).id}/test`,
        headers: { cookie: ada.cookie, 'x-csrf-token': ada.csrf },
        payload: { to: [tester] },
      });
      expect(sent.json(), `${name} ${template}`).toEqual({ sent: 1 });
      expectedMail.push({ case: name, kind: 'campaign', to: tester });
    }
  }
}, 60_000);

afterAll(async () => {
  await f?.close();
  await peer?.close();
  if (templatesDir) rmSync(templatesDir, { recursive: true, force: true });
});

/** RFC 2047 encoded words (B and Q, UTF-8) decoded; whitespace between two of them dropped. */
function decodeWords(s: string): string {
  return s
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?utf-8\?([bq])\?([^?]*)\?=/gi, (_m, enc: string, text: string) =>
      enc.toLowerCase() === 'b'
        ? Buffer.from(text, 'base64').toString('utf8')
        : Buffer.from(
            text
              .replace(/_/g, ' ')
              .replace(/=([0-9a-f]{2})/gi, (_h, x: string) => String.fromCharCode(Number.parseInt(x, 16))),
            'latin1',
          ).toString('utf8'),
    );
}

/** The header section exactly as sent: its lines (unfolded) and the raw block. */
function headerSection(raw: string): { block: string; names: string[] } {
  const end = raw.indexOf('\r\n\r\n');
  const block = end < 0 ? raw : raw.slice(0, end);
  const lines = block.replace(/\r\n[ \t]/g, ' ').split('\r\n');
  return { block, names: lines.map((l) => l.slice(0, Math.max(0, l.indexOf(':')))) };
}

describe('header injection in outgoing mail', () => {
  it('every mail arrives with exactly its expected headers, whatever line breaks the data held', async () => {
    const mails = await peer.waitFor(expectedMail.length, 20_000);
    expect(mails).toHaveLength(expectedMail.length);
    const byMessageId = new Map(
      (
        f.db.prepare('SELECT message_id, kind, to_addr FROM outbox').all() as Array<{
          message_id: string;
          kind: string;
          to_addr: string;
        }>
      ).map((r) => [`<${r.message_id}>`, r]),
    );
    const seen: string[] = [];
    for (const mail of mails) {
      const { block, names } = headerSection(mail.raw);
      const messageId = /^Message-ID: (<[^>]+>)$/im.exec(block)?.[1] ?? '';
      const row = byMessageId.get(messageId);
      // Every case mails its own address, except the acknowledgement and the reply to one customer.
      const candidates = expectedMail.filter((e) => e.to === row?.to_addr);
      const want = candidates.length > 1 ? candidates.find((e) => e.kind === row?.kind) : candidates[0];
      const what = `${want?.case} ${want?.kind} to ${row?.to_addr}`;
      expect(want, `unexpected mail ${messageId}: ${block}`).toBeDefined();
      if (!want) continue;
      seen.push(`${want.case}/${want.kind}/${want.to}`);
      // Only printable ASCII, spaces and tabs, and CRLF line ends: no NUL, bare CR or LF, raw 8-bit.
      expect(block.replace(/\r\n/g, ''), what).toMatch(/^[\x20-\x7e\t]*$/);
      const lower = (l: string[]) => l.map((n) => n.toLowerCase()).sort();
      expect(lower(names), what).toEqual(lower(EXPECTED_HEADERS[want.kind] ?? []));
      // The SMTP envelope reached the one intended recipient, and the parsed mail agrees.
      expect(mail.to, what).toEqual([want.to]);
      const p = await simpleParser(mail.raw);
      expect(p.bcc, what).toBeUndefined();
      expect(p.cc, what).toBeUndefined();
      expect(p.headers.has('x-injected'), what).toBe(false);
      const to = p.to && !Array.isArray(p.to) ? p.to.value : [];
      expect(
        to.map((a) => a.address),
        what,
      ).toEqual([want.to]);
      // Decoded header values keep the words but none of the line breaks or controls.
      for (const value of [p.subject ?? '', to[0]?.name ?? '', p.from?.value[0]?.name ?? ''])
        expect(value, `${what}: ${JSON.stringify(value)}`).not.toMatch(CONTROLS);
      expect(p.from?.value[0]?.name, what).toBe('Lotus Tea House Bcc: victim@attacker.example');
      // The hostile text did reach the header (minus its breaks), so this checked something.
      const reached = /Evil ?Bcc: victim@attacker\.example ?X-Injected: yes {0,2}injected body/;
      if (want.kind !== 'campaign') expect(p.subject, what).toMatch(reached);
      if (want.kind === 'acknowledgement' || want.kind === 'staff_reply')
        expect(to[0]?.name, what).toMatch(reached);
      if (want.kind === 'campaign') {
        if (!/[\r\n]/.test(SEPARATORS[want.case] ?? '')) expect(p.subject, what).toMatch(reached);
        const listId = /^List-ID: (.*)$/im.exec(block.replace(/\r\n[ \t]/g, ' '))?.[1] ?? '';
        expect(listId, what).toMatch(new RegExp(`<list-${want.case.toLowerCase()}\\.shop\\.example>$`));
        expect(decodeWords(listId), what).toMatch(reached);
        expect(decodeWords(listId), what).not.toMatch(CONTROLS);
      }
    }
    expect(new Set(seen).size).toBe(expectedMail.length);
  });

  it('a From name, department Reply-To or escalation address with a line break in the config is refused at start-up', () => {
    for (const [name, sep] of Object.entries(SEPARATORS)) {
      const address = JSON.stringify(`sales@shop.example${sep}Bcc: v@attacker.example`);
      const from = JSON.stringify(`Lotus Tea House${sep}Bcc: v@attacker.example <support@shop.example>`);
      for (const yaml of [
        `mail:\n  departments:\n    sales: { reply_to: ${address} }\n`,
        `mail:\n  departments:\n    sales: { escalation: ${address} }\n`,
        `mail:\n  from: ${from}\n`,
      ]) {
        const dir = mkdtempSync(path.join(os.tmpdir(), 'mailroom-hdr-config-'));
        try {
          writeFileSync(path.join(dir, 'mailroom.yaml'), yaml);
          let error: unknown = null;
          try {
            loadConfig({ env: { MAILROOM_DATA_DIR: dir }, cwd: dir });
          } catch (e) {
            error = e;
          }
          expect(isMailroomError(error, 'CONFIG_INVALID'), `${name}: ${String(error)}`).toBe(true);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  });
});
