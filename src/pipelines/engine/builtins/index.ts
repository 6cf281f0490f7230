/**
 * The platform's implementations of the built-in components (signatures in `../../builtins.ts`).
 * Each receives its inputs (artifacts as local paths, scalars as given), writes every declared
 * output at the path it is handed, and may log lines, metrics and params on the step's run.
 *
 * Conventions between built-ins: a Dataset is a CSV file, a Model a folder holding `model.json`
 * (so a registered version's source `runs:/<run>/outputs/model` reads like one from `trellis train`),
 * Metrics a JSON object of name → number, a Report any JSON document.
 */
import { existsSync, realpathSync } from 'node:fs';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { delimiter, extname, isAbsolute, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrellisError, invalid } from '../../../core/errors.js';
import type { DatasetService } from '../../../data/datasets.js';
import { parseDatasetRef } from '../../../data/datasets.js';
import { readTable } from '../../../data/readers/index.js';
import { profileTable } from '../../../data/profile/profile.js';
import { inferSchema } from '../../../data/schema/infer.js';
import { parseSchema } from '../../../data/schema/schema.js';
import { column, valueAt } from '../../../data/table.js';
import { validateTable } from '../../../data/validate/validate.js';
import { evaluate } from '../../../ml/evaluate.js';
import { batchScore as batchScoreFile } from '../../../ml/batch-score.js';
import { shuffledIndex, takeRows } from '../../../ml/prepare.js';
import { ALGOS, type Algo } from '../../../ml/train.js';
import { runTraining, withoutColumns } from '../../../ml/training-workflow.js';
import type { RegistryService } from '../../../registry/registry-service.js';
import type { Actor } from '../../../store/ports/common.js';
import type { ModelVersion } from '../../../store/ports/registry.js';
import type { TrackingService } from '../../../tracking/tracking-service.js';
import type { StepInput } from '../../executors/index.js';
import { evaluateGate, parseGate } from '../gate-expr.js';
import { isSourceUri } from '../../../data/sources/index.js';
import { ingestSource, sourceCacheFacts } from './ingest-source.js';
import { readDataset, readJson, readMetrics, readModel, writeDataset, writeJson, writeModel } from './io.js';

/** What a built-in may reach: the services, never a store. */
export interface BuiltinServices {
  registry: RegistryService;
  data: DatasetService;
  tracking: TrackingService;
  who: Actor;
}

export interface BuiltinContext {
  step: string;
  /** Artifact inputs as `{ type, path }`, scalars as given; unset optional inputs are absent. */
  inputs: Record<string, StepInput>;
  outputs: Record<string, { type: string; path: string }>;
  services: BuiltinServices;
  /** Aborted when the step is stopped (its timeout, or the run cancelled): long work checks it between units and stops. */
  signal: AbortSignal;
  /** The pipeline's folder: a relative data file is looked for there first, then in the working directory. */
  baseDir?: string;
  /** When set, the only folders a data file may be read from (a deployed pipeline's package and the data roots). */
  dataRoots?: string[];
  /** Facts about an artifact input recorded by the step that made it (e.g. `dataset: bike@3`). */
  inputMeta(name: string): Record<string, string>;
  /** The run holding an artifact input (its producer's step run). */
  inputRun(name: string): string | undefined;
  setOutputMeta(name: string, meta: Record<string, string>): void;
  log(line: string): void;
  metric(name: string, value: number): void;
  param(name: string, value: string): void;
}

export type BuiltinImpl = (ctx: BuiltinContext) => Promise<void>;

const path = (ctx: BuiltinContext, name: string): string => {
  const v = ctx.inputs[name];
  if (!v || typeof v !== 'object') throw invalid(`step '${ctx.step}': input '${name}' must be an artifact`);
  return v.path;
};
const str = (ctx: BuiltinContext, name: string): string | undefined => {
  const v = ctx.inputs[name];
  return v === undefined ? undefined : typeof v === 'object' ? v.path : String(v);
};
const num = (ctx: BuiltinContext, name: string): number | undefined => {
  const v = ctx.inputs[name];
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (typeof v === 'object' || !Number.isFinite(n)) throw invalid(`step '${ctx.step}': input '${name}' must be a number, got ${JSON.stringify(v)}`);
  return n;
};
const columns = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);

/**
 * The file a relative path in a pipeline names: under the pipeline's folder when it is there (as
 * for a deployed package, unpacked elsewhere), else from the working directory (a path given on
 * the command line).
 */
export function dataFile(ref: string, baseDir?: string, dataRoots?: readonly string[]): string {
  if (dataRoots) return confinedFile(ref, baseDir, dataRoots);
  if (isAbsolute(ref) || !baseDir) return ref;
  const inFolder = resolve(baseDir, ref);
  return existsSync(inFolder) ? inFolder : ref;
}

/**
 * A deployed pipeline's data file: a relative path from the package's folder, an absolute one as
 * it is, and either way — links followed — inside one of `dataRoots`, else refused, so a pipeline
 * published to a server cannot read the server's own files (`/etc/passwd`, `../../secrets`).
 */
function confinedFile(ref: string, baseDir: string | undefined, dataRoots: readonly string[]): string {
  const wanted = isAbsolute(ref) || !baseDir ? resolve(ref) : resolve(baseDir, ref);
  const real = (p: string) => { try { return realpathSync(p); } catch { return resolve(p); } };
  const at = real(wanted);
  const inside = dataRoots.some((root) => {
    const r = real(root);
    return at === r || at.startsWith(r.endsWith(sep) ? r : r + sep);
  });
  if (!inside) {
    throw invalid(`'${ref}' is outside the folders a deployed pipeline may read: its package and the data roots (${DATA_ROOTS_ENV}); `
      + 'read data through a dataset version (name@version) or ask the administrator to add its folder to the data roots');
  }
  return at;
}

/** Where deployed pipelines may read data files besides their package: folders separated by the path delimiter. */
export const DATA_ROOTS_ENV = 'TRELLIS_DATA_ROOTS';

export function dataRootsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env[DATA_ROOTS_ENV] ?? '').split(delimiter).map((x) => x.trim()).filter(Boolean).map((x) => resolve(x));
}

/** Is the text a dataset reference rather than a file? Paths hold a slash or a file extension. */
export function isDatasetRef(s: string): boolean {
  return !/[\\/]/.test(s) && !/\.(csv|tsv|jsonl|ndjson|json|parquet|arrow|feather)$/i.test(s);
}

/** The metrics of a registered version: those recorded with it (`metric.<name>` tags), else its run's. */
export async function versionMetrics(tracking: TrackingService, v: ModelVersion): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(v.tags)) if (k.startsWith('metric.') && Number.isFinite(Number(x))) out[k.slice(7)] = Number(x);
  if (Object.keys(out).length || !v.runId) return out;
  for (const m of (await tracking.getRun(v.runId)).data.metrics) out[m.key] = m.value;
  return out;
}

const ingest: BuiltinImpl = async (ctx) => {
  const given = str(ctx, 'dataset')!;
  // A deployed pipeline's file:// URI is a file like any other: read through the data roots.
  const ref = ctx.dataRoots && /^file:\/\//i.test(given) ? fileURLToPath(given) : given;
  const query = str(ctx, 'query');
  const out = ctx.outputs.data!.path;
  if (isSourceUri(ref)) {
    await ingestSource(ref, query, { out, log: (l) => ctx.log(l), setOutputMeta: (m) => ctx.setOutputMeta('data', m), metric: (n, v) => ctx.metric(n, v) });
    return;
  }
  if (query !== undefined) throw invalid(`step '${ctx.step}': the 'query' input applies only to a SQL source (postgres://…, mysql://…), not to '${ref}'`);
  if (isDatasetRef(ref)) {
    const v = await ctx.services.data.get(ref);
    ctx.log(`dataset ${v.name}@${v.version}: ${v.rows} rows, ${v.columns} columns (sha256 ${v.sha256.slice(0, 12)}…)`);
    if (v.format === 'csv') await writeFile(out, (await ctx.services.data.bytes(`${v.name}@${v.version}`)).data);
    else await writeDataset(out, await ctx.services.data.loadVersion(v));
    ctx.setOutputMeta('data', { dataset: `${v.name}@${v.version}`, sha256: v.sha256 });
    ctx.metric('rows', v.rows);
    return;
  }
  const file = dataFile(ref, ctx.baseDir, ctx.dataRoots);
  if (/\.csv$/i.test(file)) await copyFile(file, out).catch((e: NodeJS.ErrnoException) => {
    throw e.code === 'ENOENT' ? new TrellisError('TRELLIS_DATA_FILE_NOT_FOUND', { file: ref }) : e;
  });
  else await writeDataset(out, await readTable(file));
  const t = await readDataset(out);
  ctx.log(`file ${file}: ${t.rowCount} rows, ${t.columns.length} columns`);
  ctx.setOutputMeta('data', { file: ref });
  ctx.metric('rows', t.rowCount);
};

const validate: BuiltinImpl = async (ctx) => {
  const t = await readDataset(path(ctx, 'data'));
  const failOn = str(ctx, 'failOn') ?? 'error';
  const ref = ctx.inputMeta('data').dataset;
  let against: string;
  let report;
  if (ctx.inputs.schema !== undefined) {
    const schema = parseSchema(await readJson(path(ctx, 'schema'), 'schema'));
    report = validateTable(t, schema);
    against = 'the given schema';
  } else if (ref) {
    const r = await ctx.services.data.validate(t, { ref });
    report = r;
    against = r.against;
  } else {
    report = validateTable(t, inferSchema(profileTable(t)));
    against = 'a schema inferred from the input';
  }
  const errors = report.anomalies.filter((a) => a.severity === 'error');
  const warnings = report.anomalies.length - errors.length;
  ctx.log(`validated ${t.rowCount} rows against ${against}: ${errors.length} blocking, ${warnings} warnings`);
  for (const a of report.anomalies) ctx.log(`  ${a.severity}: ${a.message}`);
  ctx.metric('anomalies_blocking', errors.length);
  ctx.metric('anomalies_warning', warnings);
  await writeJson(ctx.outputs.report!.path, { ...report, against });
  const fail = failOn === 'error' ? errors.length > 0 : failOn === 'warning' ? report.anomalies.length > 0 : false;
  if (fail) {
    const first = (failOn === 'error' ? errors : report.anomalies).slice(0, 3).map((a) => a.message).join('; ');
    throw invalid(`validation against ${against} found ${errors.length} blocking anomalies and ${warnings} warnings (failOn: ${failOn}): ${first}`);
  }
  await copyFile(path(ctx, 'data'), ctx.outputs.data!.path);
  ctx.setOutputMeta('data', ctx.inputMeta('data'));
};

const split: BuiltinImpl = async (ctx) => {
  const t = await readDataset(path(ctx, 'data'));
  const strategy = str(ctx, 'strategy') ?? 'random';
  const testSize = num(ctx, 'testSize') ?? 0.2;
  const seed = num(ctx, 'seed') ?? 1;
  if (!(testSize > 0 && testSize < 1)) throw invalid(`step '${ctx.step}': testSize must be in (0, 1), got ${testSize}`);
  const n = t.rowCount;
  let test: number[];
  if (strategy === 'random') {
    test = shuffledIndex(n, seed).slice(0, Math.max(1, Math.round(n * testSize)));
  } else if (strategy === 'stratified') {
    const by = str(ctx, 'stratifyBy');
    if (!by) throw invalid(`step '${ctx.step}': strategy 'stratified' needs stratifyBy (the class column)`);
    const c = column(t, by);
    const groups = new Map<string, number[]>();
    for (let i = 0; i < n; i++) {
      const k = String(valueAt(c, i));
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k)!.push(i);
    }
    test = [];
    for (const rows of [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r)) {
      const order = shuffledIndex(rows.length, seed);
      test.push(...order.slice(0, Math.round(rows.length * testSize)).map((j) => rows[j]!));
    }
  } else if (strategy === 'time') {
    const by = columns(str(ctx, 'orderBy'));
    if (!by.length) throw invalid(`step '${ctx.step}': strategy 'time' needs orderBy (the columns that order the rows)`);
    const cols = by.map((b) => column(t, b));
    const key = (c: (typeof cols)[number], i: number): number | string => (c.type === 'string' ? (c.codes[i]! < 0 ? '' : c.dictionary[c.codes[i]!]!) : c.valid[i] ? c.values[i]! : -Infinity);
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => {
      for (const c of cols) {
        const x = key(c, a);
        const y = key(c, b);
        if (x < y) return -1;
        if (x > y) return 1;
      }
      return a - b;
    });
    test = order.slice(n - Math.max(1, Math.round(n * testSize)));
  } else throw invalid(`step '${ctx.step}': strategy must be random, stratified or time, got '${strategy}'`);
  const inTest = new Uint8Array(n);
  for (const i of test) inTest[i] = 1;
  const trainRows: number[] = [];
  const testRows: number[] = [];
  for (let i = 0; i < n; i++) (inTest[i] ? testRows : trainRows).push(i);
  if (!trainRows.length || !testRows.length) throw invalid(`step '${ctx.step}': the split leaves an empty set (${trainRows.length} train, ${testRows.length} test rows)`);
  await writeDataset(ctx.outputs.train!.path, takeRows(t, trainRows));
  await writeDataset(ctx.outputs.test!.path, takeRows(t, testRows));
  ctx.log(`${strategy} split: ${trainRows.length} train, ${testRows.length} test rows`);
  ctx.metric('train_rows', trainRows.length);
  ctx.metric('test_rows', testRows.length);
  const meta = ctx.inputMeta('data');
  ctx.setOutputMeta('train', meta);
  ctx.setOutputMeta('test', meta);
};

const TRAINER_INPUTS = ['trees', 'learningRate', 'maxLeaves', 'maxDepth', 'minSamplesLeaf', 'l1', 'l2', 'subsample', 'colsample', 'maxFeatures', 'earlyStopping', 'seed', 'task'];


const trainStep: BuiltinImpl = async (ctx) => {
  const exclude = columns(str(ctx, 'exclude'));
  const all = await readDataset(path(ctx, 'data'));
  const t = withoutColumns(all, exclude, str(ctx, 'target')!, `step '${ctx.step}': 'exclude'`);
  if (exclude.length) ctx.log(`not features: ${exclude.join(', ')}`);
  const algo = (str(ctx, 'algo') ?? 'gbdt') as Algo;
  if (!ALGOS.includes(algo)) throw invalid(`step '${ctx.step}': algo must be one of ${ALGOS.join(', ')}, got '${algo}'`);
  const params: Record<string, string | number> = {};
  for (const k of TRAINER_INPUTS) {
    const v = ctx.inputs[k];
    if (v !== undefined && typeof v !== 'object') params[k] = typeof v === 'boolean' ? Number(v) : v;
  }
  // The workflow of `trellis train`; the step run records it, the evaluation is a step of its own.
  const r = await runTraining(t, { data: `step ${ctx.step}`, target: str(ctx, 'target')!, algo, params }, { onProgress: (s) => ctx.log(s), evaluationReport: false, signal: ctx.signal });
  for (const [k, v] of Object.entries(r.params)) ctx.param(k, String(v));
  for (const [k, v] of Object.entries(r.metrics)) ctx.metric(k, v);
  await writeModel(ctx.outputs.model!.path, r.model);
  await writeJson(ctx.outputs.metrics!.path, r.metrics);
  ctx.log(`${algo} ${r.task} model on ${r.trainRows} rows, hold-out ${r.testRows} rows`);
};

const evaluateStep: BuiltinImpl = async (ctx) => {
  const model = await readModel(path(ctx, 'model'));
  const t = await readDataset(path(ctx, 'data'));
  const samples = num(ctx, 'bootstrap') ?? 1000;
  const report = evaluate(model, t, {
    target: str(ctx, 'target'), slices: columns(str(ctx, 'slices')),
    bootstrap: samples > 0 ? { samples, seed: num(ctx, 'seed') ?? 1, level: 0.95 } : undefined,
  });
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(report.metrics)) if (Number.isFinite(v.value)) metrics[k] = v.value;
  for (const [k, v] of Object.entries(metrics)) ctx.metric(k, v);
  await writeJson(ctx.outputs.metrics!.path, metrics);
  await writeJson(ctx.outputs.report!.path, report);
  ctx.log(`evaluated on ${report.rows} rows: ${Object.entries(metrics).map(([k, v]) => `${k}=${v.toPrecision(5)}`).join(' ')}`);
};

const gate: BuiltinImpl = async (ctx) => {
  const condition = str(ctx, 'condition')!;
  const expr = parseGate(condition);
  const metrics = await readMetrics(path(ctx, 'metrics'));
  const ref = str(ctx, 'champion');
  const v = ref ? await findVersion(ctx.services.registry, ref) : undefined;
  const champion = v ? await versionMetrics(ctx.services.tracking, v) : undefined;
  const r = evaluateGate(expr, metrics, champion, condition);
  const notes = [...r.notes];
  if (ref && !v) notes.unshift(`no version of ${ref} exists`);
  const decision = {
    passed: r.passed, condition, terms: r.terms,
    champion: v ? { ref, name: v.name, version: v.version } : ref ? { ref, name: null, version: null } : null,
    notes,
  };
  await writeJson(ctx.outputs.decision!.path, decision);
  ctx.metric('passed', r.passed ? 1 : 0);
  ctx.log(`gate ${r.passed ? 'passed' : 'failed'}: ${condition} with ${r.terms.map((x) => `${x.term}=${x.value ?? 'n/a'}`).join(', ')}${notes.length ? ` (${notes.join('; ')})` : ''}`);
};

const register: BuiltinImpl = async (ctx) => {
  const { registry, who } = ctx.services;
  const name = str(ctx, 'name')!;
  const alias = str(ctx, 'alias');
  const out = ctx.outputs.registration!.path;
  if (ctx.inputs.decision !== undefined) {
    const d = (await readJson(path(ctx, 'decision'), 'decision')) as { passed?: unknown };
    if (d?.passed !== true) {
      ctx.log('the gate did not pass: nothing is registered');
      await writeJson(out, { registered: false, reason: 'the gate decision did not pass', name, version: null, alias: alias ?? null });
      return;
    }
  }
  const runId = ctx.inputRun('model');
  if (!runId) throw invalid(`step '${ctx.step}': the model input does not come from a pipeline step run, so it cannot be registered`);
  const registration = await registerModel(registry, who, { name, runId, alias, metrics: ctx.inputs.metrics !== undefined ? await readMetrics(path(ctx, 'metrics')) : undefined });
  ctx.log(`${registration.created ? 'registered' : 'reused'} ${name} version ${registration.version}${alias ? ` @${alias}` : ''}`);
  await writeJson(out, { registered: true, ...registration });
};

/**
 * Registers the model of `runId` (its `outputs/model`) as a version of `name` — or finds the
 * version already made from that run, so a re-run or a resume never registers twice — and points
 * `alias` at it. Shared with the engine, which re-applies a cached registration this way.
 */
export async function registerModel(registry: RegistryService, who: Actor, o: { name: string; runId: string; alias?: string; metrics?: Record<string, number> }): Promise<{ name: string; version: string; alias: string | null; created: boolean; runId: string }> {
  const { version, created } = await registry.registerRun({
    name: o.name, run: o.runId, artifactPath: 'outputs/model', alias: o.alias, reuse: true,
    tags: Object.fromEntries(Object.entries(o.metrics ?? {}).map(([k, v]) => [`metric.${k}`, String(v)])),
  }, who);
  return { name: o.name, version: version.version, alias: o.alias ?? null, created, runId: o.runId };
}

/** `name@alias` or `name/version` → the version, or undefined when the alias, model or version does not exist. */
export async function findVersion(registry: RegistryService, ref: string): Promise<ModelVersion | undefined> {
  if (!(ref.lastIndexOf('@') > 0 || ref.lastIndexOf('/') > 0)) throw invalid(`a registered version is written name@alias or name/version, got '${ref}'`);
  return registry.find(ref);
}

/** Streamed a block of rows at a time, as `trellis score` does (ml/batch-score.ts): any size of dataset. */
const batchScore: BuiltinImpl = async (ctx) => {
  const model = await readModel(path(ctx, 'model'));
  const r = await batchScoreFile(model, {
    input: path(ctx, 'data'), format: 'csv', output: ctx.outputs.predictions!.path, outputFormat: 'csv', signal: ctx.signal,
  });
  ctx.metric('rows', r.rows);
  ctx.log(`scored ${r.rows} rows in ${r.blocks} block${r.blocks === 1 ? '' : 's'}`);
};

export const BUILTIN_IMPLS: Record<string, BuiltinImpl> = {
  'ingest@1': ingest,
  'validate@1': validate,
  'split@1': split,
  'train@1': trainStep,
  'evaluate@1': evaluateStep,
  'gate@1': gate,
  'register@1': register,
  'batch-score@1': batchScore,
};

/**
 * What a built-in's result depends on beyond its inputs, for its cache key: the dataset version
 * `name@latest` stands for now (or a file's bytes), the version a gate's champion alias points at.
 */
export async function builtinCacheFacts(component: string, inputs: Record<string, StepInput>, s: BuiltinServices, baseDir?: string, dataRoots?: readonly string[]): Promise<Record<string, string>> {
  if (component === 'ingest@1' && typeof inputs.dataset === 'string') {
    const ref = inputs.dataset;
    if (isSourceUri(ref)) return sourceCacheFacts(ref, typeof inputs.query === 'string' ? inputs.query : undefined);
    if (isDatasetRef(ref)) {
      const { name } = parseDatasetRef(ref);
      const v = await s.data.get(ref);
      return { dataset: `${name}@${v.version}`, sha256: v.sha256 };
    }
    const { createHash } = await import('node:crypto');
    // A file outside the data roots is refused here, before the cache is consulted.
    const file = dataFile(ref, baseDir, dataRoots);
    return { file: createHash('sha256').update(await readFile(file).catch(() => Buffer.from(''))).digest('hex'), ext: extname(ref) };
  }
  if (component === 'gate@1' && typeof inputs.champion === 'string') {
    const v = await findVersion(s.registry, inputs.champion);
    return { champion: v ? `${v.name}/${v.version}` : 'none' };
  }
  return {};
}
