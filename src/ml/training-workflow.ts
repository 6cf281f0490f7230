/**
 * Training as one workflow, shared by `trellis train`, the SDK, the REST API and the pipeline
 * `train` component: read the data, cross-validate or search hyperparameters if asked, train the
 * final model, evaluate it on its hold-out, and describe what its run records. Pure of storage:
 * what a run logs comes back as plain data ({@link RunLog}) that the tracking service writes in
 * one go, so the workflow is the same whoever records it (or whether anyone does).
 */
import { existsSync } from 'node:fs';
import { invalid } from '../core/errors.js';
import { describeMostlyNumeric, mostlyNumericTextColumns } from '../data/bad-values.js';
import { readTable } from '../data/readers/index.js';
import type { Table } from '../data/table.js';
import { crossValidate, type CvResult, type CvScheme } from './cv.js';
import { evaluate } from './evaluate.js';
import type { Task, TrellisModel } from './model.js';
import { readTarget, type Progress } from './prepare.js';
import { evaluationHtml } from './report/evaluation-html.js';
import { search, type SearchResult, type SpaceDim, type Trial } from './search.js';
import { ALGOS, resolveParams, train, type Algo, type ParamValue } from './train.js';

export interface TrainingSearch {
  strategy: 'grid' | 'random';
  space: SpaceDim[];
  /** Random search only (default 10). */
  trials?: number;
  /** Metric to optimise; default by task (roc_auc, accuracy, rmse). */
  objective?: string;
}

export interface TrainingRequest {
  /** A data file or a dataset version `name@v`, as given: recorded as the run's `data` param. */
  data: string;
  target: string;
  algo: Algo;
  /** Trainer parameters as given (snake_case or camelCase, text or numbers). */
  params?: Record<string, ParamValue | boolean>;
  /** Columns the model must not see (identifiers, leaks of the target): each must be a column of the data, none the target. */
  exclude?: string[];
  cv?: CvScheme;
  search?: TrainingSearch;
}

/** The table without the columns `exclude` names; `what` opens the error (an unknown column, the target) naming them. */
export function withoutColumns(t: Table, exclude: readonly string[], target: string, what = "'exclude'"): Table {
  if (!exclude.length) return t;
  const names = t.columns.map((c) => c.name);
  const unknown = exclude.filter((x) => !names.includes(x));
  if (unknown.length) throw invalid(`${what} names ${unknown.map((x) => `'${x}'`).join(', ')}, not a column of the data; its columns are ${names.join(', ')}`);
  if (exclude.includes(target)) throw invalid(`${what} names the target '${target}'`);
  return { rowCount: t.rowCount, columns: t.columns.filter((c) => !exclude.includes(c.name)) };
}

/** A dataset version the data was read from, recorded as the run's input. */
export interface TrainingDataset {
  name: string;
  version: number;
  sha256: string;
}

/** Where training data comes from when it is not a file: the dataset service's two reads. */
export interface TrainingDataSource<V extends TrainingDataset = TrainingDataset> {
  get(ref: string): Promise<V>;
  loadVersion(v: V): Promise<Table>;
}

export interface LoggedMetric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

/** Everything one run records, as data: the tracking service writes it in one transaction. */
export interface RunLog {
  runName: string;
  startTime: number;
  endTime: number;
  tags: Record<string, string>;
  params: { key: string; value: string }[];
  metrics: LoggedMetric[];
  /** Files under the run's artifact root. */
  artifacts: { path: string; data: string }[];
  /** The model logged by the run, for MLflow's log-model history (`artifact_path` under the run). */
  model?: { artifactPath: string; flavors: Record<string, unknown> };
}

export interface TrainingOutcome {
  task: Task;
  /** Binary: the class counted as positive (the model's second class), as given or as chosen by rule. */
  positiveClass?: string;
  model: TrellisModel;
  /** The final model's hold-out metrics (empty when it was trained on every row). */
  metrics: Record<string, number>;
  params: Record<string, ParamValue>;
  trainRows: number;
  testRows: number;
  cv?: CvResult;
  search?: SearchResult;
  dataset?: TrainingDataset;
  /** What a person should know about the data trained on, e.g. a mostly numeric column read as text. */
  warnings: string[];
  /** What the run of the final model records (for a search: the parent of the trials). */
  run: RunLog;
}

export interface TrainingHooks {
  onProgress?: Progress;
  /** Stops the training between trees, folds and trials (a pipeline step's timeout or cancel). */
  signal?: AbortSignal;
  /** Write the evaluation report of the hold-out into the run's artifacts (default true). */
  evaluationReport?: boolean;
  /** A search's trial as it ends, with its run's record; awaited before the next trial starts. */
  onTrial?: (run: RunLog, trial: Trial) => Promise<void>;
}

/** `k` (shuffled k-fold, stratified for classifiers) or `time:k[:column]` (expanding window). */
export function parseCvSpec(spec: string, field = 'cv'): CvScheme {
  const m = /^(?:(time):)?([^:]+)(?::(.+))?$/.exec(spec.trim());
  const k = m ? Number(m[2]) : Number.NaN;
  if (!m || (m[3] !== undefined && !m[1]) || !/^\d+$/.test(m[2]!.trim())) throw invalid(`${field} takes k or time:k[:column], got '${spec}'`);
  if (k < 2) throw invalid(`${field} needs at least 2 folds, got ${k}`);
  return m[1] ? { kind: 'time', folds: k, ...(m[3] ? { column: m[3] } : {}) } : { kind: 'kfold', folds: k };
}

/**
 * Checks what can be checked without the data, so that a bad request fails before anything is
 * read or recorded. The search itself checks its space and objective against the data's task.
 */
export function checkTrainingRequest(req: TrainingRequest): void {
  if (typeof req.data !== 'string' || !req.data) throw invalid("Training needs 'data': a data file or a dataset version name@v");
  if (typeof req.target !== 'string' || !req.target) throw invalid("Training needs 'target': the column to predict");
  if (!(ALGOS as readonly string[]).includes(req.algo)) throw invalid(`The trainer must be one of ${ALGOS.join(', ')}, got '${String(req.algo)}'`);
  resolveParams(req.algo, req.params ?? {});
  if (req.exclude !== undefined && (!Array.isArray(req.exclude) || req.exclude.some((x) => typeof x !== 'string' || !x))) {
    throw invalid("'exclude' must be a list of column names");
  }
  const s = req.search;
  if (!s) return;
  if (s.strategy !== 'grid' && s.strategy !== 'random') throw invalid(`Search strategy must be grid or random, got '${String(s.strategy)}'`);
  if (!s.space.length) throw invalid('A search needs at least one parameter space');
  if (s.trials !== undefined && s.strategy !== 'random') throw invalid('The number of trials applies to random search only; a grid runs every combination');
  if (s.trials !== undefined && (!Number.isInteger(s.trials) || s.trials < 1)) throw invalid(`A random search needs a whole number of trials of at least 1, got ${s.trials}`);
}

/** A file path (unless `files` is false), else a dataset version `name@v` read through the dataset service. */
export async function readTrainingData<V extends TrainingDataset>(
  ref: string, datasets: TrainingDataSource<V>, o: { files?: boolean } = {},
): Promise<{ table: Table; dataset?: TrainingDataset }> {
  if (o.files !== false && existsSync(ref)) return { table: await readTable(ref) };
  const v = await datasets.get(ref);
  return { table: await datasets.loadVersion(v), dataset: { name: v.name, version: v.version, sha256: v.sha256 } };
}

const metricList = (m: Record<string, number>, prefix = '', time = Date.now()): LoggedMetric[] =>
  Object.entries(m).map(([key, value]) => ({ key: `${prefix}${key}`, value, timestamp: time, step: 0 }));

/** `cv_<m>_mean`, `cv_<m>_std`, and `cv_<m>` with one step per fold (step = fold number). */
export function cvMetrics(cv: CvResult): LoggedMetric[] {
  const time = Date.now();
  return [
    ...metricList(cv.mean, 'cv_', time).map((x) => ({ ...x, key: `${x.key}_mean` })),
    ...metricList(cv.std, 'cv_', time).map((x) => ({ ...x, key: `${x.key}_std` })),
    ...cv.folds.flatMap((f) => metricList(f.metrics, 'cv_', time).map((x) => ({ ...x, step: f.fold }))),
  ];
}

function runParams(req: TrainingRequest, task: string, params: Record<string, unknown>, positiveClass?: string): { key: string; value: string }[] {
  return [{ key: 'algo', value: req.algo }, { key: 'target', value: req.target }, { key: 'task', value: task },
    ...(positiveClass !== undefined ? [{ key: 'positiveClass', value: positiveClass }] : []), { key: 'data', value: req.data },
    ...(req.exclude?.length ? [{ key: 'exclude', value: req.exclude.join(',') }] : []),
    ...Object.entries(params).filter(([key]) => key !== 'task' && key !== 'positiveClass').map(([key, value]) => ({ key, value: String(value) }))];
}

/** The positive class of a binary model: its second class. */
export function positiveClassOf(model: TrellisModel): string | undefined {
  return model.task === 'binary' ? model.classes?.[1] : undefined;
}

/** The run of one search trial; its parent is linked by whoever records it. */
function trialRun(req: TrainingRequest, task: Task, positiveClass: string | undefined, t: Trial): RunLog {
  const all = resolveParams(req.algo, { ...req.params, ...t.params });
  return {
    runName: `trial-${t.index}`, startTime: t.startTime, endTime: t.endTime,
    tags: { 'trellis.trainer': req.algo, 'trellis.trial': String(t.index) },
    // Under cross-validation the trainer's hold-out is not used: its size would only mislead.
    params: runParams(req, task, all, positiveClass).filter((p) => !(t.cv && p.key === 'testSize')),
    metrics: t.cv ? cvMetrics(t.cv) : metricList(t.metrics),
    artifacts: [],
  };
}

/**
 * Runs the workflow on data already read. With cross-validation or a search, the estimate comes
 * from there and the final model is trained on every row, unless a test size was given.
 */
export async function runTraining(data: Table, req: TrainingRequest, hooks: TrainingHooks = {}, dataset?: TrainingDataset): Promise<TrainingOutcome> {
  checkTrainingRequest(req);
  const table = withoutColumns(data, req.exclude ?? [], req.target);
  const startTime = Date.now();
  const progress = hooks.onProgress;
  const given = req.params ?? {};
  const resolved = resolveParams(req.algo, given);
  let found: SearchResult | undefined;
  let cv: CvResult | undefined;
  if (req.search) {
    const s = req.search;
    const { task, positiveClass } = readTarget(table, req.target, resolved.task as Task | undefined, resolved.positiveClass as string | undefined);
    found = await search(table, req.target, req.algo, given, {
      strategy: s.strategy, space: s.space, trials: s.trials, seed: Number(resolved.seed ?? 42), objective: s.objective, cv: req.cv, onProgress: progress, signal: hooks.signal,
      onTrial: hooks.onTrial ? async (t) => hooks.onTrial!(trialRun(req, task, positiveClass, t), t) : undefined,
    });
    cv = found.best.cv;
  } else if (req.cv) {
    cv = await crossValidate(table, req.target, req.algo, given, req.cv, { onProgress: progress, signal: hooks.signal });
  }
  const fixed = found ? found.bestParams : given;
  const holdsOut = Object.keys(fixed).some((k) => k === 'test_size' || k === 'testSize');
  const finalParams = (cv || found) && !holdsOut ? { ...fixed, testSize: 0 } : fixed;
  if (found) progress?.(`training the final model with ${Object.entries(found.best.params).map(([k, v]) => `${k}=${fmt(v)}`).join(' ')}`);
  const result = await train(table, req.target, req.algo, finalParams, { onProgress: progress, signal: hooks.signal });

  const artifacts: RunLog['artifacts'] = [{ path: 'model/model.json', data: JSON.stringify(result.model) }];
  const holdout = result.holdout;
  if (holdout && holdout.rowCount >= 10 && hooks.evaluationReport !== false) {
    // The evaluation report on the held-out rows, with bootstrap intervals on every metric.
    progress?.(`writing the evaluation report (${holdout.rowCount} held-out rows)`);
    const report = evaluate(result.model, holdout, { bootstrap: { samples: 200, seed: 42, level: 0.95 } });
    artifacts.push({ path: 'evaluation/evaluation.json', data: JSON.stringify(report, null, 2) });
    artifacts.push({ path: 'evaluation/evaluation.html', data: evaluationHtml(report) });
  }
  const positiveClass = positiveClassOf(result.model);
  const tags: Record<string, string> = { 'trellis.trainer': req.algo };
  if (found) {
    Object.assign(tags, {
      'trellis.search': req.search!.strategy, 'trellis.search.objective': found.objective.metric,
      'trellis.search.trials': String(found.trials.length), 'trellis.search.best_trial': String(found.best.index),
    });
  }
  const run: RunLog = {
    runName: found ? `search-${req.algo}-${req.target}` : `${req.algo}-${req.target}`,
    startTime, endTime: Date.now(), tags,
    params: runParams(req, result.model.task, result.params, positiveClass),
    metrics: [...metricList(result.metrics), ...(cv ? cvMetrics(cv) : []), ...(found ? metricList(found.best.metrics, 'best_') : [])],
    artifacts,
    model: { artifactPath: 'model', flavors: { trellis: { format: result.model.format, task: result.model.task, target: result.model.target } } },
  };
  return {
    task: result.model.task, ...(positiveClass !== undefined ? { positiveClass } : {}), model: result.model, metrics: result.metrics, params: result.params,
    trainRows: result.trainRows, testRows: result.testRows, cv, search: found, dataset, warnings: dataWarnings(table), run,
  };
}

/** A column that a few bad values made categorical, named with the count and the first of them. */
function dataWarnings(table: Table): string[] {
  return mostlyNumericTextColumns(table).map(describeMostlyNumeric);
}

const fmt = (v: unknown) => (typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v));

/** The outcome as the CLI's `--json` and the REST API answer it (snake_case, as MLflow's JSON). */
export function trainingSummary(o: TrainingOutcome, recorded: { runId: string; model?: string; version?: string }): Record<string, unknown> {
  const cv = o.cv;
  const found = o.search;
  return {
    run_id: recorded.runId, model: recorded.model ?? null, version: recorded.version ?? null,
    task: o.task, ...(o.positiveClass !== undefined ? { positive_class: o.positiveClass } : {}), metrics: o.metrics,
    ...(cv ? {
      cv: {
        scheme: cv.scheme.kind, folds: cv.folds.length, ...(cv.scheme.kind === 'time' && cv.scheme.column ? { column: cv.scheme.column } : {}),
        mean: cv.mean, std: cv.std,
        per_fold: cv.folds.map((f) => ({ fold: f.fold, train_rows: f.trainRows, test_rows: f.testRows, metrics: f.metrics })),
      },
    } : {}),
    ...(found ? {
      best_params: found.best.params, trials: found.trials.length, best_trial: found.best.index,
      objective: { metric: found.objective.metric, direction: found.objective.direction, value: found.best.objective },
    } : {}),
    ...(o.warnings.length ? { warnings: o.warnings } : {}),
  };
}
