// BENCH_SCALE shrinks data sizes and request counts for quick development runs, e.g.
// `BENCH_SCALE=0.1 npm run bench -- ingest`. Figures from a scaled run are not comparable with
// full-size ones; suites say the scale in their notes.

/** The BENCH_SCALE factor (default 1). */
export function benchScale(): number {
  const raw = process.env.BENCH_SCALE;
  if (raw === undefined || raw === '') return 1;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`BENCH_SCALE must be a positive number, got "${raw}"`);
  return v;
}

/** n times BENCH_SCALE, rounded, and never below min. */
export function scaled(n: number, min = 1): number {
  return Math.max(min, Math.round(n * benchScale()));
}

/** Nearest-rank percentile (p in 0..100) of a list of numbers. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1] as number;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}
