import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** One measured quantity: samples of mailroom and, where it has one, of its raw baseline. */
export interface Figure {
  name: string;
  unit: string;
  /** Higher is better for rates (msg/s), lower for times (ms) and memory (MB). */
  better?: 'higher' | 'lower';
  samples: number[];
  baselineSamples?: number[];
  /** The target the issue sets, in the figure's unit, to show beside the result. */
  target?: string;
}

export interface SuiteResult {
  name: string;
  figures: Figure[];
  notes?: string[];
}

export interface Stats {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  const mid = Math.floor(n / 2);
  const median =
    n === 0 ? Number.NaN : n % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { median, min: s[0] ?? Number.NaN, max: s[n - 1] ?? Number.NaN, n };
}

export function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

function gitCommit(): string {
  try {
    return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export function summarise(result: SuiteResult): Record<string, unknown> {
  return {
    suite: result.name,
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: machine(),
    notes: result.notes ?? [],
    figures: result.figures.map((f) => {
      const m = stats(f.samples);
      const b = f.baselineSamples ? stats(f.baselineSamples) : undefined;
      return {
        name: f.name,
        unit: f.unit,
        better: f.better ?? 'higher',
        median: m.median,
        min: m.min,
        max: m.max,
        runs: m.n,
        baseline: b ? { median: b.median, min: b.min, max: b.max, runs: b.n } : null,
        ratio: b ? Math.round((m.median / b.median) * 1000) / 1000 : null,
        target: f.target ?? null,
      };
    }),
  };
}

export function writeResult(dir: string, result: SuiteResult): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${result.name}.json`);
  writeFileSync(file, `${JSON.stringify(summarise(result), null, 2)}\n`);
  return file;
}

/** Runs fn `runs` times (after one warm-up) and returns each run's value. */
export async function sample(
  runs: number,
  fn: () => Promise<number> | number,
  warmup = 1,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) out.push(await fn());
  return out;
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(n >= 10 ? 1 : 2);
}

/** mulberry32: a small deterministic PRNG, so every run generates the same data. */
export function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
