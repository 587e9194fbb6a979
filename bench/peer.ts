// Parent side of the counting SMTP peer (bench/children/peer.ts), plus a small helper for the
// benchmarks' child processes.
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CHILDREN_DIR = path.join(here, 'children');

export interface PeerStats {
  accepted: number;
  /** Distinct envelope recipients. */
  unique: number;
  /** Mails to a recipient that had already received one since the last reset. */
  duplicates: number;
  /** Mails whose header block lacked one of the headers required at reset. */
  missingHeaders: number;
  /** Mails whose To: header does not name the envelope recipient. */
  toMismatch: number;
  bytes: number;
  /** process.hrtime.bigint() of the first and last accepted mail (monotonic, shared by processes). */
  firstAtNs: string | null;
  lastAtNs: string | null;
}

export interface CountingPeer {
  host: string;
  port: number;
  pid: number;
  reset(requireHeaders?: string[]): Promise<void>;
  /** Resolves once the peer has accepted `count` mails since the last reset. */
  whenAccepted(count: number): Promise<PeerStats>;
  stats(): Promise<PeerStats>;
  close(): Promise<void>;
}

/**
 * BENCH_CPU_PROF=DIR writes a V8 CPU profile of every child whose file name contains
 * BENCH_CPU_PROF_MATCH (default: all but the peer) to DIR, for `node --cpu-prof` style digging.
 */
function profileFlags(file: string): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  if (!dir) return [];
  const match = process.env.BENCH_CPU_PROF_MATCH;
  if (match ? !file.includes(match) : file === 'peer.ts') return [];
  return ['--cpu-prof', `--cpu-prof-dir=${path.resolve(dir)}`];
}

/** Forks a TypeScript file under bench/children through tsx, with IPC. */
export function forkChild(
  file: string,
  args: string[] = [],
  opts: { env?: NodeJS.ProcessEnv; execArgv?: string[]; stdio?: 'inherit' | 'ignore' } = {},
): ChildProcess {
  return fork(path.join(CHILDREN_DIR, file), args, {
    execArgv: ['--import', 'tsx', ...profileFlags(file), ...(opts.execArgv ?? [])],
    env: opts.env ?? process.env,
    stdio:
      opts.stdio === 'inherit'
        ? ['ignore', 'inherit', 'inherit', 'ipc']
        : ['ignore', 'ignore', 'inherit', 'ipc'],
  });
}

/** The next IPC message of `type` (optionally matching `pred`); rejects if the child exits first. */
export function nextMessage<T extends { type: string }>(
  child: ChildProcess,
  type: string,
  pred: (m: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: unknown) => {
      const msg = m as T;
      if (msg && msg.type === type && pred(msg)) {
        cleanup();
        resolve(msg);
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(
        new Error(`child ${child.pid} exited (code ${code}, signal ${signal}) before sending "${type}"`),
      );
    };
    const cleanup = () => {
      child.off('message', onMsg);
      child.off('exit', onExit);
    };
    child.on('message', onMsg);
    child.on('exit', onExit);
  });
}

export async function startCountingPeer(): Promise<CountingPeer> {
  const child = forkChild('peer.ts');
  const { port } = await nextMessage<{ type: 'listening'; port: number }>(child, 'listening');
  let seq = 0;
  return {
    host: '127.0.0.1',
    port,
    pid: child.pid ?? 0,
    async reset(requireHeaders = []) {
      const done = nextMessage(child, 'reset-done');
      child.send({ type: 'reset', requireHeaders });
      await done;
    },
    async whenAccepted(count) {
      const id = ++seq;
      const got = nextMessage<{ type: 'notified'; id: number; stats: PeerStats }>(
        child,
        'notified',
        (m) => m.id === id,
      );
      child.send({ type: 'notify', id, count });
      return (await got).stats;
    },
    async stats() {
      const id = ++seq;
      const got = nextMessage<{ type: 'stats'; id: number; stats: PeerStats }>(
        child,
        'stats',
        (m) => m.id === id,
      );
      child.send({ type: 'stats', id });
      return (await got).stats;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.send({ type: 'close' });
      await exited;
    },
  };
}

/** Waits up to `ms` for a child to exit on its own, then SIGKILLs it. */
export async function reap(child: ChildProcess, ms = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
}

/** Seconds between two process.hrtime.bigint() readings (as strings across processes). */
export const secs = (fromNs: string | bigint, toNs: string | bigint) =>
  Number(BigInt(toNs) - BigInt(fromNs)) / 1e9;

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms);
    }),
  ]);
}

/**
 * One run of the raw baseline (children/baseline.ts: nodemailer's pooled transport with pre-rendered
 * messages) to the counting peer: mails/s from the go signal to the last accepted mail.
 */
export async function baselineRound(
  baseline: ChildProcess,
  peer: CountingPeer,
  o: { runId: number; count: number; timeoutMs: number; requireHeaders?: string[] },
): Promise<{ rate: number; cpuMsPerMail: number }> {
  await peer.reset(o.requireHeaders);
  const done = nextMessage<{ type: string; id: number; t0Ns: string; failed: number; cpuMs: number }>(
    baseline,
    'done',
    (m) => m.id === o.runId,
  );
  const accepted = peer.whenAccepted(o.count);
  baseline.send({ type: 'go', id: o.runId, prefix: `b${o.runId}-`, count: o.count });
  const d = await withTimeout(done, o.timeoutMs, 'baseline');
  const s = await withTimeout(accepted, 60_000, 'peer (baseline)');
  if (d.failed || s.unique !== o.count)
    throw new Error(`baseline: ${d.failed} failed, ${s.unique} recipients`);
  return { rate: o.count / secs(d.t0Ns, s.lastAtNs as string), cpuMsPerMail: d.cpuMs / o.count };
}
