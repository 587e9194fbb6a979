import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/index.ts';
import { startSmtpPeer, tempDir, waitFor } from '../harness/index.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'send-child.ts');
const N = 16;

function runChild(dbFile: string, port: number): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CHILD, dbFile, String(port), String(N)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

describe('sending across a SIGKILL: exactly once, at most once in the data_sent window', () => {
  it('a worker killed mid-send, then restarted, sends no Message-ID twice and every mail it records as sent', async () => {
    // The peer lives in this process, so it outlives the killed worker and sees every byte it sent.
    const peer = await startSmtpPeer();
    try {
      const dbFile = path.join(tempDir(), 'mailroom.sqlite');
      // Hold each 250 reply back: the worker is killed while the server has the whole message but
      // the worker has not heard back, the window a naive retry would send a second copy from.
      peer.setFaults([{ kind: 'stall', ms: 300 }]);
      const first = runChild(dbFile, peer.port);
      let stderr = '';
      first.stderr?.on('data', (d) => {
        stderr += d;
      });
      const exited = new Promise<number | null>((r) =>
        first.on('exit', (code, signal) => r(signal ? -1 : code)),
      );
      const reader = openDatabase(dbFile, { readonly: false });
      const stage = () =>
        reader
          .prepare("SELECT count(*) AS n FROM outbox WHERE status = 'sending' AND send_stage = 'data_sent'")
          .get() as {
          n: number;
        };
      await waitFor(`the worker to be mid-send (stderr: ${stderr})`, () => {
        try {
          return peer.received.length >= 2 && stage().n > 0;
        } catch {
          return false; // tables not there yet
        }
      });
      first.kill('SIGKILL');
      expect(await exited).toBe(-1);
      const inDoubt = stage().n;
      expect(inDoubt).toBeGreaterThan(0);

      peer.setFaults([]);
      const second = runChild(dbFile, peer.port);
      const code = await new Promise<number | null>((r) => second.on('exit', r));
      expect(code).toBe(0);

      const rows = reader.prepare('SELECT message_id, status FROM outbox ORDER BY id').all() as Array<{
        message_id: string;
        status: string;
      }>;
      expect(rows).toHaveLength(N);
      // Mails the killed worker had fully handed over are presumed delivered, not resent.
      expect(rows.filter((r) => r.status === 'uncertain').length).toBeGreaterThanOrEqual(inDoubt);
      expect(rows.every((r) => r.status === 'sent' || r.status === 'uncertain')).toBe(true);
      // The stalled sessions finish on the peer (their 250 goes to a dead socket). Then: no mail
      // twice; every mail recorded sent arrived; a mail in doubt (uncertain: killed between the
      // data_sent mark and the server's reply) arrived at most once. It is missing only if the kill
      // came after the mark and before its last bytes left: the window no SMTP client can close.
      const sent = rows.filter((r) => r.status === 'sent').map((r) => r.message_id);
      const counts = new Map<string, number>();
      const countArrivals = () => {
        counts.clear();
        for (const m of peer.received) {
          const id = /^Message-ID: <([^>]+)>/im.exec(m.raw)?.[1] ?? '?';
          counts.set(id, (counts.get(id) ?? 0) + 1);
        }
      };
      await waitFor('every mail recorded sent at the peer', () => {
        countArrivals();
        return sent.every((id) => counts.has(id));
      });
      await new Promise((r) => setTimeout(r, 400));
      countArrivals();
      expect([...counts.values()].filter((n) => n > 1)).toEqual([]);
      expect([...counts.keys()].every((id) => rows.some((r) => r.message_id === id))).toBe(true);
      expect(N - counts.size).toBeLessThanOrEqual(rows.filter((r) => r.status === 'uncertain').length);
      reader.close();
    } finally {
      await peer.close();
    }
  });
});
