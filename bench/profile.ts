/**
 * Profiling a 1,000,000-row × 20-column CSV (bench/gen-wide-csv.ts), side by side with pandas
 * `read_csv` + `describe(include='all')` on the same file (Debian's python3-pandas), each in its own
 * process so peak memory is that process's own. Trellis runs from the build (`npm run build`), as
 * `trellis data profile` does. Also: validation of a 1,000-record JSON batch
 * against a schema and profile (goal: under 5 ms).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fmt, summarize } from './lib.js';
import { generateWideCsv } from './gen-wide-csv.js';

const ROWS = Number(process.env.BENCH_PROFILE_ROWS ?? 1_000_000);
const OUT = fileURLToPath(new URL('./out/', import.meta.url));
const CSV = `${OUT}wide-${ROWS}.csv`;
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const REPS = Number(process.env.BENCH_PROFILE_REPS ?? 3);

/** One profiling run in a fresh process, so its peak RSS is its own. */
const CHILD = `
import { readTableWithInference } from ${JSON.stringify(fileURLToPath(new URL('../dist/data/readers/index.js', import.meta.url)))};
import { profileTableParallel } from ${JSON.stringify(fileURLToPath(new URL('../dist/data/profile/parallel.js', import.meta.url)))};
import { readFileSync } from 'node:fs';
const t0 = performance.now();
const { table } = await readTableWithInference(process.argv[2]);
const t1 = performance.now();
const p = await profileTableParallel(table);
const t2 = performance.now();
const peak = Number(/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
console.log(JSON.stringify({ read_s: (t1 - t0) / 1000, profile_s: (t2 - t1) / 1000, total_s: (t2 - t0) / 1000, peak_rss_mib: peak, rows: p.rows, columns: p.columns.length }));
`;

export interface ProfileBenchResult {
  rows: number;
  trellis: { total_s: number; read_s: number; profile_s: number; peak_rss_mib: number }[];
  pandas: { total_s: number; read_s: number; describe_s: number; peak_rss_mib: number }[];
  speedup: number;
  validation: { withParse: ReturnType<typeof summarize>; afterParse: ReturnType<typeof summarize> };
}

function runJson(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Record<string, number> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function validationBench(): Promise<{ withParse: ReturnType<typeof summarize>; afterParse: ReturnType<typeof summarize> }> {
  const { tableFromRows } = await import('../src/data/table.js');
  const { profileTable } = await import('../src/data/profile/profile.js');
  const { inferSchema } = await import('../src/data/schema/infer.js');
  const { validateTable } = await import('../src/data/validate/validate.js');
  const { readTableWithInference } = await import('../src/data/readers/index.js');
  const { table } = await readTableWithInference(CSV, { maxRows: 100_000 });
  const reference = profileTable(table);
  const schema = inferSchema(reference);
  const { rowAt } = await import('../src/data/table.js');
  const batch = JSON.stringify(Array.from({ length: 1000 }, (_, i) => rowAt(table, i * 7)));
  const withParse: number[] = [];
  const afterParse: number[] = [];
  for (let i = 0; i < 420; i++) {
    const t0 = performance.now();
    const records = JSON.parse(batch);
    const t1 = performance.now();
    const r = validateTable(tableFromRows(records), schema, { reference });
    const t2 = performance.now();
    if (i >= 20) {
      withParse.push(t2 - t0);
      afterParse.push(t2 - t1);
    }
    if (r.rows !== 1000) throw new Error('validation saw the wrong batch');
  }
  return { withParse: summarize(withParse), afterParse: summarize(afterParse) };
}

export async function runProfileBench(): Promise<ProfileBenchResult> {
  mkdirSync(OUT, { recursive: true });
  if (!existsSync(CSV)) {
    console.log(`  generating ${CSV}`);
    await generateWideCsv(CSV, ROWS);
  }
  const childScript = `${OUT}profile-child.mjs`;
  writeFileSync(childScript, CHILD);
  console.log(`\nprofiling ${ROWS.toLocaleString()} rows × 20 columns (${REPS} runs each, alternating)`);
  const trellis: ProfileBenchResult['trellis'] = [];
  const pandas: ProfileBenchResult['pandas'] = [];
  // Unset the OpenBLAS overrides for pandas, which slow numpy down on this machine (env README).
  const pyEnv = { ...process.env };
  delete pyEnv.OPENBLAS_CORETYPE;
  delete pyEnv.OPENBLAS_L2_SIZE;
  for (let i = 0; i < REPS; i++) {
    trellis.push(runJson(process.execPath, [childScript, CSV]) as never);
    pandas.push(runJson(PYTHON, [fileURLToPath(new URL('./profile_pandas.py', import.meta.url)), CSV], pyEnv) as never);
    console.log(`  run ${i + 1}: Trellis ${fmt(trellis[i]!.total_s, 2)} s (read ${fmt(trellis[i]!.read_s, 2)} + profile ${fmt(trellis[i]!.profile_s, 2)}), peak ${fmt(trellis[i]!.peak_rss_mib, 0)} MiB | pandas ${fmt(pandas[i]!.total_s, 2)} s (read_csv ${fmt(pandas[i]!.read_s, 2)} + describe ${fmt(pandas[i]!.describe_s, 2)}), peak ${fmt(pandas[i]!.peak_rss_mib, 0)} MiB`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const speedup = median(pandas.map((p) => p.total_s)) / median(trellis.map((t) => t.total_s));
  console.log(`  median: Trellis ${fmt(median(trellis.map((t) => t.total_s)), 2)} s, pandas ${fmt(median(pandas.map((p) => p.total_s)), 2)} s → Trellis is ${fmt(speedup, 2)}× pandas`);
  const validation = await validationBench();
  console.log(`  validating a 1,000-record batch (table, schema checks, skew vs profile): p50 ${fmt(validation.afterParse.p50, 2)} ms, p95 ${fmt(validation.afterParse.p95, 2)} ms; with JSON.parse of the request body: p50 ${fmt(validation.withParse.p50, 2)} ms, p95 ${fmt(validation.withParse.p95, 2)} ms`);
  return { rows: ROWS, trellis, pandas, speedup, validation };
}

if (import.meta.url === `file://${process.argv[1]}`) await runProfileBench();
