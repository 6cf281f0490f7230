/**
 * `trellis ci`: the checks a pipeline passes before it is deployed, in order, stopping at the first
 * stage that fails —
 *
 *   lint        the linter's checks (errors fail, warnings are reported);
 *   type-check  the TypeScript compiler over the pipeline and its TypeScript components;
 *   tests       the project's component tests (node --test, python3 -m unittest);
 *   dry-run     the pipeline run by the engine on temporary stores, on samples of its input files;
 *   package     the pipeline and its code, hashed, written as one JSON file to deploy.
 *
 * Each stage reports its status, duration, a one-line summary and the problems it found, so the
 * CLI can print a line per stage and scripts can read the whole report as JSON.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { TrellisError, invalid } from '../../core/errors.js';
import type { PipelineIR, Scalar } from '../ir.js';
import { buildPackage, unpackPackage, type PipelinePackage } from '../package.js';
import { linkTrellis } from '../triggers/deployments.js';
import { runComponentTests } from './component-tests.js';
import { DEFAULT_SAMPLE_ROWS, dryRun } from './dry-run.js';
import { formatTypeProblem, typeCheck } from './typecheck.js';

export const CI_STAGES = ['lint', 'type-check', 'tests', 'dry-run', 'package'] as const;
export type CiStage = (typeof CI_STAGES)[number];

export interface StageReport {
  stage: CiStage;
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  /** One line: what the stage did, or why it failed. */
  summary: string;
  /** What failed: lint errors, type errors as file:line:col, failed tests, the failed step. */
  problems: string[];
  warnings: string[];
  /** Stage-specific facts: the files checked, the test runs, the dry run's steps, the package. */
  detail?: unknown;
}

export interface CiPackage {
  path: string;
  name: string;
  version: string;
  sha256: string;
  files: number;
  irHash: string;
}

export interface CiReport {
  pipeline: string;
  name?: string;
  version?: string;
  passed: boolean;
  /** The stage that failed, and why. */
  failed?: { stage: CiStage; cause: string };
  stages: StageReport[];
  package?: CiPackage;
  durationMs: number;
}

export interface CiOptions {
  /** Data rows of each ingested file the dry run keeps (default 500). */
  sampleRows?: number;
  /** Where to write the package (default: `<pipeline dir>/dist/<name>-<version>.pkg.json`). */
  out?: string;
  /** A glob of test files, relative to the pipeline's folder (default: its tests/ and components/ folders). */
  tests?: string;
  params?: Record<string, Scalar>;
  /** Parameter values typed by the loaded pipeline (as `--param name=value` gives them), when `params` is not given. */
  paramsFor?: (ir: PipelineIR) => Record<string, Scalar>;
  /** Step name → data file for ingest steps that read a dataset version. */
  data?: Record<string, string>;
  /** Extra files to put in the package, beside the pipeline and its component modules. */
  include?: string[];
  /** Called as each stage ends. */
  onStage?: (s: StageReport) => void;
}

class StageFailure extends Error {
  constructor(readonly summary: string, readonly problems: string[], readonly detail?: unknown) {
    super(summary);
  }
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
/** A path relative to the current folder when it lies under it, else absolute. */
const shortPath = (p: string) => {
  const rel = relative(process.cwd(), p);
  return !rel || rel.startsWith('..') ? p : rel;
};

/**
 * A dry run that found no file where the package put it: the file is beside the pipeline but not
 * in the package, so the deployed pipeline would not find it either. Says how to put it there.
 */
function notPackaged(e: unknown, baseDir: string): unknown {
  const m = e instanceof TrellisError ? /step '([^']+)' reads '([^']+)', which is not a file/.exec(e.message) : null;
  if (!m) return e;
  const [, step, ref] = m as unknown as [string, string, string];
  const shown = relative(baseDir, resolve(baseDir, ref));
  const beside = !shown.startsWith('..') && existsSync(resolve(baseDir, ref)) ? ` (it is beside the pipeline: add it with --include ${shown})` : '';
  return invalid(`step '${step}' reads '${ref}', which is not in the package that deploys${beside}; `
    + `or read a dataset version (name@version) and give the dry run a file with --data ${step}=<file>`);
}

export async function runCi(pipelineFile: string, o: CiOptions = {}): Promise<CiReport> {
  const started = Date.now();
  const file = pipelineFile;
  const baseDir = dirname(resolve(file));
  const report: CiReport = { pipeline: file, passed: false, stages: [], durationMs: 0 };

  /** Runs one stage; false when it failed (and the report says so). */
  const stage = async (name: CiStage, fn: () => Promise<Omit<StageReport, 'stage' | 'durationMs' | 'status'> & { status?: StageReport['status'] }>): Promise<boolean> => {
    const t0 = Date.now();
    let s: StageReport;
    try {
      const r = await fn();
      s = { stage: name, status: r.status ?? 'passed', durationMs: Date.now() - t0, summary: r.summary, problems: r.problems, warnings: r.warnings, ...(r.detail === undefined ? {} : { detail: r.detail }) };
    } catch (e) {
      const f = e instanceof StageFailure ? e : new StageFailure((e as Error)?.message ?? String(e), [(e as Error)?.message ?? String(e)]);
      s = { stage: name, status: 'failed', durationMs: Date.now() - t0, summary: f.summary, problems: f.problems, warnings: [], ...(f.detail === undefined ? {} : { detail: f.detail }) };
      report.failed = { stage: name, cause: f.summary };
    }
    report.stages.push(s);
    o.onStage?.(s);
    return s.status !== 'failed';
  };

  const { loadPipelineFile } = await import('../load.js');
  let loaded: Awaited<ReturnType<typeof loadPipelineFile>> | undefined;
  let params: Record<string, Scalar> | undefined;
  let pkg: PipelinePackage | undefined;

  const ok = await stage('lint', async () => {
    loaded = await loadPipelineFile(file);
    report.name = loaded.ir.name;
    report.version = loaded.ir.version;
    params = o.params ?? o.paramsFor?.(loaded.ir);
    const { lintPipeline } = await import('../lint.js');
    const { formatPath } = await import('../ir.js');
    const findings = lintPipeline(loaded.ir, { params, locate: loaded.locate });
    const show = (f: (typeof findings)[number]) => `${f.line ? `${file}:${f.line}` : f.path ? formatPath(f.path) : file} ${f.check}: ${f.message}`;
    const errors = findings.filter((f) => f.severity === 'error').map(show);
    const warnings = findings.filter((f) => f.severity !== 'error').map(show);
    if (errors.length) throw new StageFailure(`${plural(errors.length, 'lint error')}: ${errors[0]}`, errors, { findings });
    return { summary: `${loaded.ir.name} ${loaded.ir.version}: ${plural(loaded.ir.steps.length, 'step')}, no errors${warnings.length ? `, ${plural(warnings.length, 'warning')}` : ''}`, problems: [], warnings };
  })
    && await stage('type-check', async () => {
      const r = await typeCheck(file, loaded!.ir);
      if (!r.files.length) return { status: 'skipped', summary: 'no TypeScript files (the pipeline and its components are not TypeScript)', problems: [], warnings: [] };
      const files = r.files.map(shortPath);
      const detail = { files, tsconfig: r.tsconfig };
      if (r.problems.length) {
        const problems = r.problems.map(formatTypeProblem);
        throw new StageFailure(`${plural(problems.length, 'type error')}: ${problems[0]}`, problems, detail);
      }
      return { summary: `${plural(files.length, 'file')} (${files.join(', ')}), ${r.tsconfig ? shortPath(r.tsconfig) : 'strict defaults'}: no errors`, problems: [], warnings: [], detail };
    })
    && await stage('tests', async () => {
      const r = await runComponentTests(baseDir, { glob: o.tests });
      if (!r.runs.length) {
        if (o.tests) throw new StageFailure(`no test files match --tests '${o.tests}'`, [`no test files match --tests '${o.tests}' under ${baseDir}`]);
        return { status: 'skipped', summary: `no component tests (looked in ${r.searched} beside the pipeline)`, problems: [], warnings: [] };
      }
      const files = r.runs.reduce((n, x) => n + x.files.length, 0);
      const failures = r.runs.flatMap((x) => x.failures.map((f) => `${x.runner === 'python' ? 'python' : 'node'}: ${f}`));
      if (failures.length) throw new StageFailure(`${plural(failures.length, 'failed test')}: ${failures[0]}`, failures, { runs: r.runs });
      return { summary: `${plural(files, 'test file')} passed (${r.runs.map((x) => x.runner === 'node' ? 'node --test' : 'python3 -m unittest').join(', ')})`, problems: [], warnings: [], detail: { runs: r.runs.map(({ output: _, ...x }) => x) } };
    })
    && await stage('dry-run', async () => {
      // From the package as it will deploy: a file the pipeline reads that is not in it fails here, not on the server.
      pkg = await buildPackage(file, o.include ? { include: o.include } : undefined);
      const unpacked = await mkdtemp(join(tmpdir(), 'trellis-ci-package-'));
      try {
        const entry = await unpackPackage(pkg, unpacked);
        await linkTrellis(unpacked); // as the server does: its components import this Trellis
        const r = await dryRun(pkg.ir, { baseDir: dirname(entry), cwd: dirname(entry), sampleRows: o.sampleRows ?? DEFAULT_SAMPLE_ROWS, params, data: o.data })
          .catch((e: unknown) => { throw notPackaged(e, baseDir); });
        if (r.failed) {
          const why = r.failed.error.replace(/^Step '[^']*' failed: /, '');
          throw new StageFailure(`step '${r.failed.step}' failed: ${why}`, [`step '${r.failed.step}': ${why}`], r);
        }
        const ran = r.steps.filter((s) => s.status === 'done').length;
        const samples = r.samples.map((s) => `${s.step}: ${s.rows} rows of ${s.source}`).join('; ');
        return { summary: `${ran} of ${plural(r.steps.length, 'step')} ran from the package${samples ? ` on samples (${samples})` : ''}`, problems: [], warnings: r.warnings, detail: r };
      } finally {
        await rm(unpacked, { recursive: true, force: true });
      }
    })
    && await stage('package', async () => {
      const out = resolve(o.out ?? join(baseDir, 'dist', `${pkg!.name}-${pkg!.version}.pkg.json`));
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, `${JSON.stringify(pkg, null, 2)}\n`);
      report.package = { path: shortPath(out), name: pkg!.name, version: pkg!.version, sha256: pkg!.sha256, files: pkg!.files.length, irHash: pkg!.irHash };
      return { summary: `${report.package.path}: sha256 ${pkg!.sha256}, ${plural(pkg!.files.length, 'file')}`, problems: [], warnings: [], detail: report.package };
    });

  report.passed = ok;
  report.durationMs = Date.now() - started;
  return report;
}
