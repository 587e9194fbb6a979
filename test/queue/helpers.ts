import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { freePort } from '../harness/index.ts';

/** Polls until cond holds; fails the test when it does not within timeoutMs. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setTimeout(500, () => {
      s.destroy();
      resolve(false);
    });
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.on('error', () => resolve(false));
  });
}

export interface DurableRedis {
  url: string;
  /** Starts it again (same port, same data) after stop(). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A private redis-server that keeps its data across a restart (append-only file, fsync on every
 * write), as production Redis for BullMQ should: the harness's instance has no persistence, so a
 * restart there would empty the queue rather than test that none of it is lost.
 */
export async function startDurableRedis(bin: string, dir: string): Promise<DurableRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const launch = async () => {
    const c = spawn(
      bin,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    );
    child = c;
    const end = Date.now() + 10_000;
    while (!(await answersPing(port))) {
      if (Date.now() > end || c.exitCode !== null) throw new Error(`redis-server on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    start: launch,
    stop,
  };
}
