import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createCampaign, createList, startCampaign, subscribe } from '../../src/lists/index.ts';
import { startSmtpPeer, tempDir } from '../harness/index.ts';
import { setupLists } from './helpers.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(here, 'campaign-child.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function runChild(dbFile: string, port: number, campaignId: number, mode: 'direct' | 'send') {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CHILD, dbFile, String(port), String(campaignId), mode],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

describe('campaign resume', () => {
  it.each([
    ['batches sending straight to SMTP', 'direct'],
    ['batches sending through a SendFn', 'send'],
  ] as const)(
    '%s: after SIGKILL at 50% a restart sends to every recipient exactly once',
    async (_label, mode) => {
      const peer = await startSmtpPeer();
      const dbFile = path.join(tempDir(), 'lists.sqlite');
      const t = setupLists({}, dbFile);
      const list = createList(t.db, { slug: 'news', name: 'News', consentWording: 'ok', optin: 'single' }, 1);
      const N = 200;
      for (let i = 0; i < N; i++)
        await subscribe(t.deps, { slug: 'news', email: `r${i}@example.com`, source: 'staff' });
      const c = createCampaign(t.db, { name: 'C', listIds: [list.id], template: 'n', subject: 'S' }, 1);
      startCampaign(t.db, c.id, Date.now());
      const sentCount = () =>
        (
          t.db.prepare(`SELECT count(*) AS n FROM campaign_sends WHERE status = 'sent'`).get() as {
            n: number;
          }
        ).n;

      const first = runChild(dbFile, peer.port, c.id, mode);
      await peer.waitFor(N / 2, 20_000);
      // Refuse the next message once (451, not recorded): the child waits to retry, with every accepted
      // message already committed as sent. Then kill it hard, as a crash would.
      peer.setFaults([{ kind: 'reply', stage: 'data', code: 451, message: 'try later', times: 1 }]);
      let stable = 0;
      while (stable < 5) {
        await sleep(60);
        stable = sentCount() === peer.received.length ? stable + 1 : 0;
      }
      first.child.kill('SIGKILL');
      expect(await first.exited).toBeNull();
      const atKill = peer.received.length;
      expect(atKill).toBeGreaterThanOrEqual(N / 2);
      expect(atKill).toBeLessThan(N);

      const second = runChild(dbFile, peer.port, c.id, mode);
      const code = await second.exited;
      expect(code, second.stderr()).toBe(0);
      const counts = new Map<string, number>();
      for (const m of peer.received) for (const to of m.to) counts.set(to, (counts.get(to) ?? 0) + 1);
      expect(counts.size).toBe(N);
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
      expect(sentCount()).toBe(N);
      t.db.close();
      await peer.close();
    },
    60_000,
  );
});
