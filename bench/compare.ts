/**
 * Before and after in one invocation: runs the named benchmarks in another source tree (a git
 * ref checked out as a worktree, or a folder) and in this one, alternating, then prints their
 * figures side by side with the ratio after ÷ before.
 *
 *   npm run bench:compare -- <git-ref> ingest search pipelines gbdt
 *   npm run bench:compare -- --base-dir /path/to/checkout ingest
 *   BENCH_COMPARE_ROUNDS=2 …   (each tree runs each benchmark this many times; default 1)
 *
 * The figures compared are the numeric leaves of each `bench/results/<name>.json` whose names
 * say what they measure (percentiles, rates, seconds, memory); lists of repeated timings are
 * reduced to their median. The comparison is written to bench/results/compare-<name>.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = resolve(fileURLToPath(new URL('..', import.meta.url)));

function usage(msg: string): never {
  process.stderr.write(`${msg}\nusage: npm run bench:compare -- (<git-ref> | --base-dir <dir>) <bench> [<bench> …]\n`);
  process.exit(2);
}

function git(args: string[], cwd = HERE): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) usage(`git ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

function baseTree(args: string[]): { dir: string; label: string; rest: string[] } {
  if (args[0] === '--base-dir') {
    const dir = args[1];
    if (!dir || !existsSync(join(dir, 'bench', 'run.ts'))) usage(`--base-dir needs a Trellis checkout with bench/run.ts (got '${dir ?? ''}')`);
    return { dir: resolve(dir), label: dir, rest: args.slice(2) };
  }
  const ref = args[0];
  if (!ref) usage('name the tree to compare against');
  const sha = git(['rev-parse', '--verify', `${ref}^{commit}`]);
  const dir = join(mkdtempSync(join(tmpdir(), 'trellis-bench-base-')), 'tree');
  git(['worktree', 'add', '--detach', dir, sha]);
  // The base runs with this tree's installed packages: a benchmark measures our code, not its dependencies.
  symlinkSync(join(HERE, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return { dir, label: `${ref} (${sha.slice(0, 10)})`, rest: args.slice(1) };
}

function runBench(dir: string, name: string): unknown {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', name], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`bench '${name}' failed in ${dir} (exit ${r.status})`);
  return (JSON.parse(readFileSync(join(dir, 'bench', 'results', `${name}.json`), 'utf8')) as { result: unknown }).result;
}

const MEASURE = /(p50|p95|per_?s(econd)?|_s$|seconds|_ms$|ms$|rss|mib)/i;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Numeric leaves by path; arrays of numbers become their median, arrays of objects are keyed by a label field when there is one. */
function flatten(v: unknown, path: string, out: Map<string, number>): void {
  if (typeof v === 'number') {
    if (Number.isFinite(v) && MEASURE.test(path.split('.').pop() ?? '')) out.set(path, v);
    return;
  }
  if (Array.isArray(v)) {
    if (v.length && v.every((x): x is number => typeof x === 'number')) {
      if (MEASURE.test(path.split('.').pop() ?? '')) out.set(`${path} (median)`, median(v));
      return;
    }
    v.forEach((x, i) => {
      const o = x as Record<string, unknown> | null;
      const label = o && typeof o === 'object' ? [o.backend, o.dataset, o.query, o.name].filter((s) => typeof s === 'string').join(' · ') : '';
      flatten(x, `${path}[${label || i}]`, out);
    });
    return;
  }
  if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) flatten(x, path ? `${path}.${k}` : k, out);
}

function averageRuns(runs: Map<string, number>[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const k of runs[0]?.keys() ?? []) {
    const xs = runs.map((r) => r.get(k)).filter((x): x is number => x !== undefined);
    out.set(k, median(xs));
  }
  return out;
}

const { dir: baseDir, label, rest: names } = baseTree(process.argv.slice(2));
if (!names.length) usage('name at least one benchmark (ingest, search, profile, gbdt, pipelines)');
const rounds = Math.max(1, Number(process.env.BENCH_COMPARE_ROUNDS ?? 1));

for (const name of names) {
  const before: Map<string, number>[] = [];
  const after: Map<string, number>[] = [];
  for (let i = 0; i < rounds; i++) {
    process.stderr.write(`\n== ${name}: before (${label}), round ${i + 1}/${rounds}\n`);
    const b = new Map<string, number>();
    flatten(runBench(baseDir, name), '', b);
    before.push(b);
    process.stderr.write(`\n== ${name}: after (this tree), round ${i + 1}/${rounds}\n`);
    const a = new Map<string, number>();
    flatten(runBench(HERE, name), '', a);
    after.push(a);
  }
  const b = averageRuns(before);
  const a = averageRuns(after);
  const rows = [...a.keys()].filter((k) => b.has(k)).map((k) => ({ figure: k, before: b.get(k)!, after: a.get(k)!, ratio: a.get(k)! / b.get(k)! }));
  const width = Math.min(90, Math.max(...rows.map((r) => r.figure.length), 6));
  process.stdout.write(`\n${name}: before = ${label}, after = this tree (ratio = after ÷ before)\n`);
  process.stdout.write(`${'figure'.padEnd(width)}  ${'before'.padStart(12)}  ${'after'.padStart(12)}  ${'ratio'.padStart(7)}\n`);
  for (const r of rows) {
    const f = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(4));
    process.stdout.write(`${r.figure.slice(0, width).padEnd(width)}  ${f(r.before).padStart(12)}  ${f(r.after).padStart(12)}  ${r.ratio.toFixed(2).padStart(7)}\n`);
  }
  writeFileSync(join(HERE, 'bench', 'results', `compare-${name}.json`), `${JSON.stringify({ name, date: new Date().toISOString(), before: label, rounds, rows }, null, 2)}\n`);
}
