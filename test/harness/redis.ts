import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from './ports.ts';

export interface RedisInfo {
  url: string;
  port: number;
}

export interface RunningRedis extends RedisInfo {
  /** Starts it again (same port; same data when durable) after stop(). */
  start(): Promise<void>;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

async function ping(port: number): Promise<void> {
  const net = await import('node:net');
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
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
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`redis-server on port ${port} did not answer PING`);
}

/**
 * redis-server in the foreground, noeviction as BullMQ requires. No persistence, unless durableDir
 * is given: then an append-only file fsynced on every write, as production Redis for BullMQ should
 * run, so a restart keeps the data (tests that prove nothing is lost across one need that).
 */
export async function startRedis(bin: string, opts: { durableDir?: string } = {}): Promise<RunningRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const launch = async () => {
    child = spawn(
      bin,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        ...(opts.durableDir
          ? ['--dir', opts.durableDir, '--appendonly', 'yes', '--appendfsync', 'always']
          : ['--appendonly', 'no']),
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    );
    await ping(port);
  };
  const stopChild = async () => {
    const c = child as ChildProcess | null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
    child = null;
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    restart: async () => {
      await stopChild();
      await launch();
    },
    start: launch,
    stop: stopChild,
  };
}
