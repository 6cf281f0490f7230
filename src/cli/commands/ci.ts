/**
 * `trellis ci [pipeline-file]`: lint, type-check, component tests, a dry run on samples of the
 * data, and the package to deploy — a line per stage, stopping at the first that fails (exit 1).
 * The stages themselves are in src/pipelines/ci/.
 */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { TrellisError, invalid } from '../../core/errors.js';
import type { CiReport, StageReport } from '../../pipelines/ci/ci.js';
import { globals } from '../context.js';
import { printJson } from '../output.js';
import { seconds } from '../progress.js';
import { paramValues } from './pipelines.js';

/** Looked for in the current folder when no pipeline file is named. */
export const DEFAULT_PIPELINE_FILES = ['pipeline.ts', 'pipeline.yaml', 'pipeline.yml', 'pipeline.json', 'pipeline.js', 'pipeline.mjs'];

const MAX_PROBLEMS = 20;

export function defaultPipelineFile(): string {
  const found = DEFAULT_PIPELINE_FILES.find((f) => existsSync(f));
  if (!found) throw invalid(`no pipeline file given, and none of ${DEFAULT_PIPELINE_FILES.join(', ')} in ${process.cwd()}: name the file, e.g. trellis ci my.pipeline.ts`);
  return found;
}

const duration = (ms: number) => (ms < 1000 ? `${ms} ms` : seconds(ms));

/** `✓ lint  12 ms  bike 1: 7 steps, no errors`, then the problems and warnings under it. */
export function stageLines(s: StageReport): string {
  const mark = s.status === 'passed' ? '✓' : s.status === 'failed' ? '✗' : '-';
  const lines = [`${mark} ${s.stage.padEnd(10)} ${duration(s.durationMs).padStart(8)}  ${s.status === 'skipped' ? 'skipped: ' : ''}${s.summary}`];
  if (s.status === 'failed' && s.problems.length > 1) {
    for (const p of s.problems.slice(0, MAX_PROBLEMS)) lines.push(`    ${p}`);
    if (s.problems.length > MAX_PROBLEMS) lines.push(`    … and ${s.problems.length - MAX_PROBLEMS} more`);
  }
  for (const w of s.warnings) lines.push(`    warning: ${w}`);
  return `${lines.join('\n')}\n`;
}

function keyValues(raw: string[] | undefined, flag: string): Record<string, string> | undefined {
  if (!raw) return undefined;
  const out: Record<string, string> = {};
  for (const kv of raw) {
    const eq = kv.indexOf('=');
    if (eq <= 0 || eq === kv.length - 1) throw invalid(`${flag} takes step=file, got '${kv}'`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

interface CiFlags {
  sampleRows?: string;
  out?: string;
  tests?: string;
  param?: string[];
  data?: string[];
  include?: string[];
}

export function ciCommand(): Command {
  return new Command('ci')
    .description('check a pipeline before deploying it: lint, type-check, component tests, a dry run on a sample of its data, then package it (exit 1 at the first stage that fails)')
    .argument('[pipeline-file]', `the pipeline (default: the first of ${DEFAULT_PIPELINE_FILES.join(', ')} here)`)
    .option('--sample-rows <n>', 'data rows of each ingested file the dry run keeps', '500')
    .option('--out <file>', 'where to write the package (default: <pipeline dir>/dist/<name>-<version>.pkg.json)')
    .option('--tests <glob>', 'test files, relative to the pipeline\'s folder (default: *.test.ts/.js/.mjs and test_*.py under tests/ and components/ beside it)')
    .option('--param <name=value...>', 'parameter values for the lint and the dry run')
    .option('--data <step=file...>', 'a data file for an ingest step that reads a dataset version (the dry run has no datasets)')
    .option('--include <path...>', 'more files or folders to put in the package, relative to the pipeline\'s folder')
    .action(async (fileArg: string | undefined, o: CiFlags, c: Command) => {
      const json = !!globals(c).json;
      const file = fileArg ?? defaultPipelineFile();
      const sampleRows = Number(o.sampleRows);
      if (!Number.isInteger(sampleRows) || sampleRows < 1) throw invalid(`--sample-rows takes a whole number ≥ 1, got '${o.sampleRows}'`);
      const { runCi } = await import('../../pipelines/ci/ci.js');
      if (!json) process.stdout.write(`trellis ci ${file}\n`);
      const report: CiReport = await runCi(file, {
        sampleRows, out: o.out, tests: o.tests, include: o.include, data: keyValues(o.data, '--data'),
        paramsFor: o.param ? (ir) => paramValues(ir, o.param)! : undefined,
        onStage: json ? undefined : (s) => process.stdout.write(stageLines(s)),
      });
      if (json) {
        printJson(report);
        if (!report.passed) process.exitCode = 1;
        return;
      }
      if (report.passed) {
        const p = report.package!;
        process.stdout.write(`passed in ${duration(report.durationMs)}: package ${p.path} (sha256 ${p.sha256}, ${p.files} file${p.files === 1 ? '' : 's'})\n`);
        return;
      }
      const f = report.failed!;
      throw new TrellisError('TRELLIS_CI_FAILED', { stage: f.stage, cause: f.cause });
    });
}
