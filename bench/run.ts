// npm run bench [-- NAME...]: runs the suites in bench/suites/, prints a table, writes
// bench/results/<name>.json. Each suite measures mailroom beside its raw baseline in the same run.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, type SuiteResult, stats, writeResult } from './lib.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const suitesDir = path.join(here, 'suites');
const resultsDir = path.join(here, 'results');

const available = readdirSync(suitesDir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = wanted.filter((w) => !available.includes(w));
if (unknown.length) {
  console.error(`bench: unknown suite ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(2);
}
const names = wanted.length ? wanted : available;

const rows: string[][] = [['suite', 'figure', 'median', 'min..max', 'baseline', 'ratio', 'target']];
let failed = false;
for (const name of names) {
  const started = Date.now();
  console.error(`bench: ${name} ...`);
  try {
    const mod = (await import(path.join(suitesDir, `${name}.ts`))) as { run: () => Promise<SuiteResult> };
    const result = await mod.run();
    const file = writeResult(resultsDir, result);
    console.error(
      `bench: ${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${path.relative(process.cwd(), file)}`,
    );
    for (const f of result.figures) {
      const m = stats(f.samples);
      const b = f.baselineSamples ? stats(f.baselineSamples) : undefined;
      rows.push([
        name,
        `${f.name} (${f.unit})`,
        fmt(m.median),
        `${fmt(m.min)}..${fmt(m.max)}`,
        b ? fmt(b.median) : '-',
        b ? `${(m.median / b.median).toFixed(2)}` : '-',
        f.target ?? '',
      ]);
    }
  } catch (e) {
    failed = true;
    console.error(`bench: ${name} failed: ${(e as Error).stack ?? e}`);
  }
}
const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
for (const r of rows) console.log(`| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`);
process.exit(failed ? 1 : 0);
