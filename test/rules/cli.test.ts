import { copyFileSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { evaluate, loadRules, recordCorrection, saveDecision } from '../../src/rules/index.ts';
import { migrate, openDatabase } from '../../src/store/index.ts';
import { runCli, tempDir } from '../harness/index.ts';
import { mail } from './helpers.ts';

const FIXTURES = path.join(PROJECT_ROOT, 'rules', 'tests', 'mail');

describe('mailroom rules', () => {
  it('test prints department, urgency, tags and why for each .eml, and --json gives an array', async () => {
    const files = ['refund-big5.eml', 'outage-gbk-html.eml'].map((f) => path.join(FIXTURES, f));
    const text = await runCli(['rules', 'test', ...files]);
    expect(text.code).toBe(0);
    expect(text.out).toContain('department: finance');
    expect(text.out).toContain('finance-money: subject contains "退款" → finance');
    const json = await runCli(['rules', 'test', '--json', ...files]);
    const parsed = JSON.parse(json.out) as Array<Record<string, unknown>>;
    expect(parsed.map((p) => [path.basename(String(p.file)), p.department, p.urgency])).toEqual([
      ['refund-big5.eml', 'finance', 'normal'],
      ['outage-gbk-html.eml', 'customer_service', 'urgent'],
    ]);
    expect(Object.keys(parsed[0] ?? {})).toEqual(
      expect.arrayContaining(['file', 'department', 'urgency', 'tags', 'explanation']),
    );
  });

  it('test answers for every file: a good one is classified, one that cannot be read is named (exit 1)', async () => {
    const good = path.join(FIXTURES, 'refund-big5.eml');
    const missing = path.join(tempDir(), 'nonexist.eml');
    const text = await runCli(['rules', 'test', good, missing]);
    expect(text.code).toBe(1);
    expect(text.out).toContain(`${good}\n  department: finance`);
    expect(text.err).toMatch(new RegExp(`^mailroom rules: cannot read ${missing}: ENOENT`));
    const json = await runCli(['rules', 'test', '--json', good, missing]);
    expect(json.code).toBe(1);
    const parsed = JSON.parse(json.out) as Array<Record<string, unknown>>;
    expect(parsed[0]).toMatchObject({ file: good, department: 'finance' });
    expect(parsed[1]).toMatchObject({ file: missing, error: expect.stringContaining('ENOENT') });
  });

  it('check passes on the shipped rules and fails with file:line reasons on a bad file', async () => {
    expect((await runCli(['rules', 'check'])).code).toBe(0);
    const dir = tempDir();
    writeFileSync(
      path.join(dir, '10-bad.yaml'),
      'rules:\n  - name: x\n    when: { subject: { matches: "(" } }\n    then: { department: marketing }\n',
    );
    const bad = await runCli(['rules', 'check'], { MAILROOM_RULES_DIR: dir });
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(`${path.join(dir, '10-bad.yaml')}:3:`);
    expect(bad.err).toContain(`${path.join(dir, '10-bad.yaml')}:4:`);
  });

  it('check passes on a copy of the shipped rules folder (its golden tests name no file outside it)', async () => {
    const dir = path.join(tempDir(), 'rules');
    cpSync(path.join(PROJECT_ROOT, 'rules'), dir, { recursive: true });
    const res = await runCli(['rules', 'check'], { MAILROOM_RULES_DIR: dir });
    expect(res.err).toBe('');
    expect(res.code).toBe(0);
  });

  it('check fails when a golden test no longer holds', async () => {
    const dir = tempDir();
    copyFileSync(
      path.join(PROJECT_ROOT, 'rules', '20-departments.yaml'),
      path.join(dir, '20-departments.yaml'),
    );
    mkdirSync(path.join(dir, 'tests'));
    writeFileSync(
      path.join(dir, 'tests', 't.yaml'),
      'tests:\n  - name: press goes to hr?\n    input: { subject: journalist here }\n    expect: { department: hr }\n',
    );
    const res = await runCli(['rules', 'check'], { MAILROOM_RULES_DIR: dir });
    expect(res.code).toBe(1);
    expect(res.err).toContain('t.yaml:2: press goes to hr?: department: expected hr, got pr');
  });

  it('replay shows what would change on stored mail and changes nothing', async () => {
    const data = tempDir();
    const dbFile = path.join(data, 'mailroom.sqlite');
    const db = openDatabase(dbFile);
    migrate(db);
    const now = Date.now();
    const conv = db
      .prepare(
        "INSERT INTO conversations (subject, department, created_at, last_message_at) VALUES ('x', 'sales', ?, ?)",
      )
      .run(now, now).lastInsertRowid;
    const msg = db
      .prepare(
        `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, subject, text_body, received_at)
         VALUES (?, 'in', 'a@x', 'a', '我要退款', '', ?)`,
      )
      .run(conv, now).lastInsertRowid;
    const old = loadRules(path.join(PROJECT_ROOT, 'rules'));
    const stale = { ...evaluate(old, mail({ subject: 'price' })), department: 'sales' as const };
    saveDecision(db, { messageId: Number(msg), conversationId: Number(conv), decision: stale, at: now });
    db.close();
    const res = await runCli(['rules', 'replay', '--since', '7d'], { MAILROOM_DATA_DIR: data });
    expect(res.code).toBe(0);
    expect(res.out).toContain('department: sales -> finance');
    expect(res.out).toContain('1 messages since');
    const after = openDatabase(dbFile, { readonly: true });
    expect(after.prepare('SELECT department FROM rule_decisions').get()).toEqual({ department: 'sales' });
    after.close();
  });

  it('report corrections lists the rules staff override most, with the change they usually make', async () => {
    const dir = tempDir();
    const db = openDatabase(path.join(dir, 'mailroom.sqlite'));
    migrate(db);
    const now = Date.now();
    db.prepare(
      "INSERT INTO customers (id, email, base_email, first_contact_at, last_contact_at, created_at) VALUES (1, 'a@x.example', 'a@x.example', 0, 0, 0)",
    ).run();
    db.prepare(
      "INSERT INTO conversations (id, customer_id, department, created_at, last_message_at) VALUES (1, 1, 'sales', 0, 0)",
    ).run();
    const fix = (rule: string, from: string, to: string, at: number) =>
      recordCorrection(db, {
        conversationId: 1,
        field: 'department',
        oldValue: from,
        newValue: to,
        user: 'li',
        at,
        rules: [rule],
      });
    fix('sales-price', 'sales', 'finance', now - 3_600_000);
    fix('sales-price', 'sales', 'finance', now - 7_200_000);
    fix('sales-price', 'sales', 'customer_service', now - 9_000_000);
    fix('hr-jobs', 'hr', 'pr', now - 3_600_000);
    fix('hr-jobs', 'hr', 'pr', now - 90 * 86_400_000);
    db.close();

    const text = await runCli(['report', 'corrections', '--since', '30d'], { MAILROOM_DATA_DIR: dir });
    expect(text.code).toBe(0);
    const lines = text.out.split('\n').filter((l) => /^(sales-price|hr-jobs) /.test(l));
    expect(lines.map((l) => l.split(/\s{2,}/))).toEqual([
      ['sales-price', 'department', '3', 'sales -> finance'],
      ['hr-jobs', 'department', '1', 'hr -> pr'],
    ]);
    const json = await runCli(['report', 'corrections', '--json'], { MAILROOM_DATA_DIR: dir });
    expect((JSON.parse(json.out) as Array<{ rule: string }>).map((r) => r.rule)).toEqual([
      'sales-price',
      'hr-jobs',
    ]);
  });
});
