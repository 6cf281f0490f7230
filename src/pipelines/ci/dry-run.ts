/**
 * The dry-run stage of `trellis ci`: the pipeline run end to end by the engine on throw-away stores
 * (a temporary SQLite file and artifact folder, removed afterwards — never the user's stores), with
 * each file that an `ingest` step reads replaced by a sample of its first rows.
 *
 * A gate is expected to refuse now and then on a sample (a model trained on 500 rows rarely beats
 * the champion): a refusing or failing gate is a warning, and the steps after it are not required.
 * Any other step that fails fails the stage.
 */
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { invalid } from '../../core/errors.js';
import { readTable } from '../../data/readers/index.js';
import { takeRows } from '../../ml/prepare.js';
import { openArtifactStore, openStores } from '../../store/open-stores.js';
import type { TrackingService } from '../../tracking/tracking-service.js';
import { isDatasetRef } from '../engine/builtins/index.js';
import { isSourceUri, redactSource } from '../../data/sources/index.js';
import { writeDataset } from '../engine/builtins/io.js';
import { PipelineEngine, resolveParams, type StepEvent } from '../engine/index.js';
import { engineServicesOver } from '../engine/services.js';
import { componentsFor, isParamRef, normalizePipeline, type PipelineIR, type Scalar, type Step } from '../ir.js';

export const DEFAULT_SAMPLE_ROWS = 500;

export interface DryRunOptions {
  /** The folder of the pipeline file: component modules and command workdirs are resolved from it. */
  baseDir: string;
  /** Data rows kept from each ingested file (default 500). */
  sampleRows?: number;
  params?: Record<string, Scalar>;
  /** Step name → a data file to ingest instead: needed for steps that read a dataset version. */
  data?: Record<string, string>;
  /** Where relative data paths are looked up first (default: the current directory, as a run does). */
  cwd?: string;
  onEvent?: (e: StepEvent) => void;
}

export interface DrySample {
  step: string;
  source: string;
  rows: number;
}

export interface DryRunResult {
  status: 'FINISHED' | 'FAILED' | 'KILLED';
  durationMs: number;
  samples: DrySample[];
  steps: { step: string; status: string; durationMs: number; error?: string }[];
  /** A gate that refused (or failed) on the sample, and the steps not run after it. */
  warnings: string[];
  /** The step whose failure fails the stage. */
  failed?: { step: string; error: string };
}

const TABULAR_TEXT = /\.(csv|tsv)$/i;
const JSON_LINES = /\.(jsonl|ndjson)$/i;

/**
 * The header and first `rows` records of a CSV/TSV file (a record may span lines inside quotes),
 * or the first `rows` lines of JSON Lines, read without loading the rest of the file.
 */
async function headOfFile(path: string, rows: number, header: boolean): Promise<{ text: string; rows: number }> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  const out: string[] = [];
  let record = '';
  let quotes = 0;
  let count = 0;
  try {
    for await (const line of lines) {
      record = record ? `${record}\n${line}` : line;
      quotes += (line.match(/"/g) ?? []).length;
      if (quotes % 2) continue;
      const isHeader = header && out.length === 0;
      if (record.trim() || isHeader) {
        out.push(record);
        if (!isHeader) count++;
      }
      record = '';
      quotes = 0;
      if (count >= rows) break;
    }
  } finally {
    lines.close();
  }
  return { text: `${out.join('\n')}\n`, rows: count };
}

/** Writes a sample of `source` into `dir`; resolves with its path and row count. */
export async function writeSample(source: string, dir: string, rows: number, prefix: string): Promise<{ path: string; rows: number }> {
  const ext = extname(source);
  if (TABULAR_TEXT.test(source) || JSON_LINES.test(source)) {
    const head = await headOfFile(source, rows, TABULAR_TEXT.test(source));
    const path = join(dir, `${prefix}-${basename(source)}`);
    await writeFile(path, head.text);
    return { path, rows: head.rows };
  }
  const table = await readTable(source);
  const n = Math.min(rows, table.rowCount);
  const path = join(dir, `${prefix}-${basename(source, ext)}.csv`);
  await writeDataset(path, takeRows(table, Array.from({ length: n }, (_, i) => i)));
  return { path, rows: n };
}

async function findFile(ref: string, dirs: string[]): Promise<string | undefined> {
  for (const d of dirs) {
    const p = resolve(d, ref);
    if (await stat(p).then((s) => s.isFile(), () => false)) return p;
  }
  return undefined;
}

const isBuiltin = (ir: PipelineIR, step: Step, name: string) => {
  const c = componentsFor(ir, step.component);
  return c.length === 1 && c[0]!.kind === 'builtin' && c[0]!.name === name;
};

export async function dryRun(input: PipelineIR, o: DryRunOptions): Promise<DryRunResult> {
  const ir = normalizePipeline(structuredClone(input));
  const params = resolveParams(ir, o.params ?? {});
  const rows = o.sampleRows ?? DEFAULT_SAMPLE_ROWS;
  if (!Number.isInteger(rows) || rows < 1) throw invalid(`--sample-rows must be a whole number ≥ 1, got ${rows}`);
  for (const step of Object.keys(o.data ?? {})) {
    const s = ir.steps.find((x) => x.name === step);
    if (!s || !isBuiltin(ir, s, 'ingest')) throw invalid(`--data ${step}=…: the pipeline has no ingest step '${step}'; its ingest steps are ${ir.steps.filter((x) => isBuiltin(ir, x, 'ingest')).map((x) => x.name).join(', ') || 'none'}`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'trellis-ci-'));
  const samples: DrySample[] = [];
  try {
    await mkdir(join(dir, 'samples'));
    const lookIn = [o.cwd ?? process.cwd(), o.baseDir];
    for (const step of ir.steps) {
      if (!isBuiltin(ir, step, 'ingest')) continue;
      const wired = step.inputs.dataset;
      const value = isParamRef(wired) ? params[wired.param] : wired;
      const given = o.data?.[step.name];
      const ref = given ?? (typeof value === 'string' ? value : undefined);
      if (ref === undefined) continue;
      if (!given && isSourceUri(ref)) {
        throw invalid(`step '${step.name}' reads the source '${redactSource(ref)}', which a dry run does not connect to: give a file with the same columns, --data ${step.name}=<file>`);
      }
      if (given) delete step.inputs.query;
      if (!given && isDatasetRef(ref)) {
        throw invalid(`step '${step.name}' reads the dataset version '${ref}', which a dry run on temporary stores does not have: give a file with the same columns, --data ${step.name}=<file>`);
      }
      const source = await findFile(ref, given ? [process.cwd()] : lookIn);
      if (!source) throw invalid(`step '${step.name}' reads '${ref}', which is not a file (looked in ${(given ? [process.cwd()] : lookIn).join(' and ')})`);
      const sample = await writeSample(source, join(dir, 'samples'), rows, step.name);
      samples.push({ step: step.name, source: ref, rows: sample.rows });
      if (isParamRef(wired) && !given) params[wired.param] = sample.path;
      else step.inputs.dataset = sample.path;
    }

    const stores = await openStores(`sqlite:${join(dir, 'ci.db')}`);
    const artifacts = await openArtifactStore(`file:${join(dir, 'artifacts')}`);
    try {
      const services = engineServicesOver(stores, artifacts);
      const engine = new PipelineEngine(services, { who: { actor: 'trellis-ci' }, workDir: join(dir, 'work') });
      const r = await engine.run(ir, { params, baseDir: o.baseDir, noCache: true, onEvent: o.onEvent });
      const warnings: string[] = [];
      let failed: DryRunResult['failed'];
      const gates = new Set(ir.steps.filter((s) => isBuiltin(ir, s, 'gate')).map((s) => s.name));
      for (const s of r.steps) {
        if (gates.has(s.step) && s.status === 'failed') warnings.push(`gate refused on the sample: step '${s.step}' failed: ${s.error ?? 'no reason recorded'}`);
        else if (gates.has(s.step) && s.metrics.passed === 0) warnings.push(`gate refused on the sample: ${await gateReason(services.tracking, s.outputs.decision)}`);
        else if (s.status === 'failed' && !failed) failed = { step: s.step, error: s.error ?? 'failed' };
      }
      const skipped = r.steps.filter((s) => s.status === 'skipped').map((s) => s.step);
      if (!failed && skipped.length) warnings.push(`not run after the gate: ${skipped.join(', ')}`);
      return {
        status: r.status, durationMs: r.durationMs, samples,
        steps: r.steps.map((s) => ({ step: s.step, status: s.status, durationMs: s.durationMs, ...(s.error ? { error: s.error } : {}) })),
        warnings, ...(failed ? { failed } : {}),
      };
    } finally {
      await stores.close();
      await artifacts.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `rmse <= 80 with rmse=93.2 (no version of bike@champion exists)`, from the gate's decision. */
async function gateReason(tracking: TrackingService, out: { run: string } | undefined): Promise<string> {
  if (!out) return 'the decision did not pass';
  try {
    const d = JSON.parse((await tracking.readArtifact(out.run, 'outputs/decision')).toString('utf8')) as {
      condition?: string; terms?: { term: string; value: number | null }[]; notes?: string[];
    };
    const terms = (d.terms ?? []).map((t) => `${t.term}=${t.value ?? 'n/a'}`).join(', ');
    return `${d.condition ?? '(condition)'}${terms ? ` with ${terms}` : ''}${d.notes?.length ? ` (${d.notes.join('; ')})` : ''}`;
  } catch {
    return 'the decision did not pass';
  }
}
