import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDsn } from '../../src/ingest/index.ts';
import { CORPORA, fixture, flagsOf, mail, setup } from './helpers.ts';

async function flagsFor(raw: Buffer, prepare?: (t: ReturnType<typeof setup>) => void) {
  const t = setup();
  prepare?.(t);
  const r = await t.pipeline.ingestRaw(raw, { kind: 'import', file: 'x' });
  return flagsOf(t.db, r.messageId);
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe('flags on the mail itself (never auto-answered)', () => {
  it.each([
    ['Auto-Submitted: auto-replied', { 'Auto-Submitted': 'auto-replied' }, 'auto_reply'],
    ['X-Autoreply', { 'X-Autoreply': 'yes' }, 'auto_reply'],
    ['X-Autorespond', { 'X-Autorespond': 'on' }, 'auto_reply'],
    ['English out-of-office subject', { Subject: 'Out of Office: back Monday' }, 'auto_reply'],
    ['Traditional Chinese auto-reply subject', { Subject: '自動回覆：休假中' }, 'auto_reply'],
    ['Precedence: bulk', { Precedence: 'bulk' }, 'bulk'],
    ['List-Unsubscribe', { 'List-Unsubscribe': '<mailto:u@x.example>' }, 'bulk'],
    ['noreply sender', { From: 'no-reply@vendor.example' }, 'noreply_sender'],
    ['our X-Loop coming back', { 'X-Loop': 'support@shop.example' }, 'loop'],
  ])('%s', async (_name, headers, flag) => {
    expect(await flagsFor(mail({ 'Message-ID': '<m@c.example>', ...headers }))).toContain(flag);
  });

  it('Auto-Submitted: no is a person writing', async () => {
    expect(await flagsFor(mail({ 'Auto-Submitted': 'no', Subject: 'Question' }))).toEqual([]);
  });

  it('a Chinese auto-reply and list mail from the fixtures', async () => {
    expect(await flagsFor(fixture('auto-reply-zh.eml'))).toContain('auto_reply');
    expect(await flagsFor(fixture('list-mail.eml'))).toContain('bulk');
  });

  it('a bounce of a message we sent is a bounce and a loop', async () => {
    const flags = await flagsFor(fixture('dsn-our-message.eml'), (t) => {
      t.db
        .prepare("INSERT INTO conversations (department, created_at, last_message_at) VALUES ('sales', 0, 0)")
        .run();
      t.db
        .prepare(
          `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, received_at)
           VALUES (1, 'out', 'out-1@shop.example', 'mid:out-1@shop.example', 0)`,
        )
        .run();
    });
    expect(flags).toEqual(expect.arrayContaining(['bounce', 'loop', 'auto_reply']));
  });

  it('parseDsn reads recipients, status, action and hard/soft from an RFC 3464 report', () => {
    const body = fixture('dsn-our-message.eml').toString('latin1');
    const status = body.slice(
      body.indexOf('Reporting-MTA'),
      body.indexOf('--R\r\nContent-Type: text/rfc822'),
    );
    expect(parseDsn(status)).toEqual({
      reportingMta: 'mx.example.net',
      recipients: [
        expect.objectContaining({
          recipient: 'gone@customer.example',
          status: '5.1.1',
          action: 'failed',
          kind: 'hard',
        }),
        expect.objectContaining({
          recipient: 'full@customer.example',
          status: '4.2.2',
          action: 'delayed',
          kind: 'soft',
        }),
      ],
    });
  });

  it('every delivery-status report in the bounce corpus is flagged bounce with its recipients parsed', async () => {
    const t = setup();
    const reports = files(path.join(CORPORA, 'bounces')).filter((f) =>
      /report-type=\s*"?delivery-status/i.test(readFileSync(f, 'latin1').slice(0, 20000)),
    );
    expect(reports.length).toBeGreaterThan(20);
    const missed: string[] = [];
    for (const f of reports) {
      const r = await t.pipeline.ingestRaw(readFileSync(f), { kind: 'import', file: f });
      if (!flagsOf(t.db, r.messageId).includes('bounce')) missed.push(f);
    }
    expect(missed).toEqual([]);
  });
});
