import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import {
  onInbound,
  onStaffReply,
  parseSince,
  parseUntil,
  percentile,
  type SlaReport,
  slaReport,
} from '../../src/sla/index.ts';
import type { Db } from '../../src/store/index.ts';
import { tempDir } from '../harness/index.ts';
import { H, migratedDb, newConversation, slaPolicy } from './helpers.ts';

const D = 24 * H;

/** Six conversations in a 30-day period and one before it; `now` is the end of the period. */
function seed(db: Db, now: number): void {
  const policy = slaPolicy();
  const T0 = now - 30 * D;
  const conv = (department: string, urgency: 'urgent' | 'normal', at: number, replyAfter: number | null) => {
    const id = newConversation(db, department, urgency);
    onInbound(db, policy, id, at, urgency, department);
    if (replyAfter !== null) onStaffReply(db, policy, id, at + replyAfter);
  };
  conv('sales', 'normal', T0 + 1 * D, 2 * H); // within
  conv('sales', 'normal', T0 + 2 * D, 10 * H); // within
  conv('sales', 'normal', T0 + 3 * D, 30 * H); // answered late
  conv('sales', 'normal', T0 + 4 * D, null); // never answered, long past due
  conv('sales', 'urgent', now - 3.5 * H, null); // in its warning window now
  conv('finance', 'normal', T0 + 5 * D, 1 * H); // within
  conv('finance', 'normal', T0 - 1 * D, null); // before the period: not counted
}

describe('SLA report', () => {
  const now = Date.UTC(2026, 2, 31, 12, 0);

  it('counts received, within SLA, median and p90, at risk and breached per department and urgency', () => {
    const db = migratedDb();
    seed(db, now);
    const r = slaReport(db, { since: now - 30 * D, until: now, now });
    expect(r.rows.map((x) => [x.department, x.urgency])).toEqual([
      ['finance', 'normal'],
      ['sales', 'urgent'],
      ['sales', 'normal'],
    ]);
    expect(r.rows[2]).toEqual({
      department: 'sales',
      urgency: 'normal',
      received: 4,
      answered: 3,
      answeredWithinSla: 2,
      withinSlaPct: 50,
      medianFirstResponseMs: 10 * H,
      p90FirstResponseMs: 30 * H,
      atRisk: 0,
      breached: 2,
    });
    expect(r.rows[1]).toMatchObject({ received: 1, answered: 0, withinSlaPct: null, atRisk: 1, breached: 0 });
    expect(r.total).toMatchObject({
      received: 6,
      answered: 4,
      answeredWithinSla: 3,
      withinSlaPct: 60,
      medianFirstResponseMs: 2 * H,
      p90FirstResponseMs: 30 * H,
      atRisk: 1,
      breached: 2,
    });
  });

  it('nearest-rank percentiles and period parsing', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([5], 90)).toBe(5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90)).toBe(9);
    expect(parseSince('30d', now)).toBe(now - 30 * D);
    expect(parseSince('12h', now)).toBe(now - 12 * H);
    expect(parseSince('2026-03-01', now)).toBe(Date.UTC(2026, 2, 1));
    expect(parseSince('2026-03-01', now, 'Asia/Shanghai')).toBe(Date.UTC(2026, 1, 28, 16));
    expect(parseUntil('2026-03-01', now, 'Asia/Shanghai')).toBe(Date.UTC(2026, 2, 1, 16));
    expect(() => parseSince('last month', now)).toThrow(/30d, 12h or 2w/);
    expect(() => parseSince('2026-13-01', now)).toThrow(/YYYY-MM-DD/);
  });
});

describe('mailroom report sla', () => {
  async function run(args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), env: {} });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  function withDatabase() {
    const dir = tempDir();
    const configFile = path.join(dir, 'mailroom.yaml');
    writeFileSync(configFile, `data_dir: ${JSON.stringify(path.join(dir, 'data'))}\n`);
    const db = migratedDb(path.join(dir, 'data', 'mailroom.sqlite'));
    seed(db, Date.now());
    db.close();
    return configFile;
  }

  it('prints a table per department and urgency with a total line', async () => {
    const config = withDatabase();
    const r = await run(['report', 'sla', '--since', '30d', '--config', config]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines.find((l) => l.startsWith('department'))).toMatch(
      /received\s+answered\s+within SLA\s+median\s+p90/,
    );
    expect(lines.find((l) => /^sales\s+normal/.test(l))?.split(/\s{2,}/)).toEqual([
      'sales',
      'normal',
      '4',
      '3',
      '50.0%',
      '10h 00m',
      '30h 00m',
      '0',
      '2',
    ]);
    expect(lines.at(-1)?.split(/\s{2,}/)).toEqual([
      'all',
      'all',
      '6',
      '4',
      '60.0%',
      '2h 00m',
      '30h 00m',
      '1',
      '2',
    ]);
  });

  it('prints the same data as JSON with --json', async () => {
    const config = withDatabase();
    const r = await run(['report', 'sla', '--json', '--config', config]);
    expect(r.code).toBe(0);
    const data = JSON.parse(r.out) as SlaReport;
    expect(data.total.received).toBe(6);
    expect(data.rows.find((x) => x.department === 'finance')?.medianFirstResponseMs).toBe(H);
  });

  it('says what is wrong with a bad command line or a missing database', async () => {
    expect((await run(['report', 'sales'])).code).toBe(2);
    const bad = await run(['report', 'sla', '--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('30d, 12h or 2w');
    const dir = tempDir();
    const configFile = path.join(dir, 'mailroom.yaml');
    writeFileSync(configFile, `data_dir: ${JSON.stringify(path.join(dir, 'nothing'))}\n`);
    const missing = await run(['report', 'sla', '--config', configFile]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('no database at');
  });
});
