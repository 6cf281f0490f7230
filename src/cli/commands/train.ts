import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { invalid } from '../../core/errors.js';
import { readTable } from '../../data/readers/index.js';
import { rowAt, type Table } from '../../data/table.js';
import { crossValidate, type CvResult, type CvScheme } from '../../ml/cv.js';
import { evaluate } from '../../ml/evaluate.js';
import { evaluationHtml } from '../../ml/report/evaluation-html.js';
import type { Task } from '../../ml/model.js';
import { predictAsync } from '../../ml/onnx/predict-async.js';
import { readTarget } from '../../ml/prepare.js';
import { parseSpace, search, type SearchResult, type Trial } from '../../ml/search.js';
import { ALGOS, resolveParams, train, type Algo } from '../../ml/train.js';
import type { Metric } from '../../store/metadata-store.js';
import { artifactStorePath } from '../../tracking/tracking-service.js';
import type { Workspace } from '../../workspace/workspace.js';
import { actor, globals, withWorkspace } from '../context.js';
import { loadModelRef } from '../refs.js';
import { output, printJson, printTable } from '../output.js';

function params(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw invalid(`--param takes key=value, got '${kv}'`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** A file path, or a dataset version `name@v` from the workspace. */
async function loadData(ws: Workspace, ref: string): Promise<{ table: Table; dataset?: { name: string; version: number; sha256: string } }> {
  if (existsSync(ref)) return { table: await readTable(ref) };
  const v = await ws.data.get(ref);
  return { table: await ws.data.load(`${v.name}@${v.version}`), dataset: { name: v.name, version: v.version, sha256: v.sha256 } };
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** `k` (shuffled k-fold, stratified for classifiers) or `time:k[:column]` (expanding window). */
export function parseCv(spec: string): CvScheme {
  const m = /^(?:(time):)?([^:]+)(?::(.+))?$/.exec(spec.trim());
  const k = m ? Number(m[2]) : Number.NaN;
  if (!m || (m[3] !== undefined && !m[1]) || !/^\d+$/.test(m[2]!.trim())) throw invalid(`--cv takes k or time:k[:column], got '${spec}'`);
  if (k < 2) throw invalid(`--cv needs at least 2 folds, got ${k}`);
  return m[1] ? { kind: 'time', folds: k, ...(m[3] ? { column: m[3] } : {}) } : { kind: 'kfold', folds: k };
}

type Who = { actor: string };

async function experimentId(ws: Workspace, name: string, who: Who): Promise<string> {
  return ws.meta.getExperimentByName(name).then((e) => e.experimentId, (e: unknown) => {
    if ((e as { code?: string }).code !== 'TRELLIS_EXPERIMENT_NAME_NOT_FOUND') throw e;
    return ws.tracking.createExperiment(name, {}, who);
  });
}

/** Metrics logged in batches small enough for the store's per-batch limit. */
async function logMetrics(ws: Workspace, runId: string, metrics: Metric[], who: Who): Promise<void> {
  for (let i = 0; i < metrics.length; i += 1000) await ws.meta.logBatch(runId, { metrics: metrics.slice(i, i + 1000) }, who);
}

const metricList = (m: Record<string, number>, prefix = '', time = Date.now()): Metric[] =>
  Object.entries(m).map(([key, value]) => ({ key: `${prefix}${key}`, value, timestamp: time, step: 0 }));

/** `cv_<m>_mean`, `cv_<m>_std`, and `cv_<m>` with one step per fold (step = fold number). */
function cvMetrics(cv: CvResult): Metric[] {
  const time = Date.now();
  return [
    ...metricList(cv.mean, 'cv_', time).map((x) => ({ ...x, key: `${x.key}_mean` })),
    ...metricList(cv.std, 'cv_', time).map((x) => ({ ...x, key: `${x.key}_std` })),
    ...cv.folds.flatMap((f) => metricList(f.metrics, 'cv_', time).map((x) => ({ ...x, step: f.fold }))),
  ];
}

function cvJson(cv: CvResult) {
  return {
    scheme: cv.scheme.kind, folds: cv.folds.length, ...(cv.scheme.kind === 'time' && cv.scheme.column ? { column: cv.scheme.column } : {}),
    mean: cv.mean, std: cv.std,
    per_fold: cv.folds.map((f) => ({ fold: f.fold, train_rows: f.trainRows, test_rows: f.testRows, metrics: f.metrics })),
  };
}

function runParams(o: { algo: string; target: string; data: string }, task: string, params: Record<string, unknown>) {
  return [{ key: 'algo', value: o.algo }, { key: 'target', value: o.target }, { key: 'task', value: task }, { key: 'data', value: o.data },
    ...Object.entries(params).filter(([key]) => key !== 'task').map(([key, value]) => ({ key, value: String(value) }))];
}

type Trained = Awaited<ReturnType<typeof train>>;
type Dataset = { name: string; version: number; sha256: string };

/**
 * What every training run records: parameters, the model's hold-out metrics and any extra ones,
 * the dataset input, the model artifact; then the run is finished and, on request, registered.
 */
async function logModelRun(ws: Workspace, who: Who, runId: string, o: {
  algo: string; target: string; data: string; dataset?: Dataset; result: Trained; extraMetrics?: Metric[]; register?: string; onProgress?: (s: string) => void;
}): Promise<string | undefined> {
  await ws.meta.logBatch(runId, { params: runParams(o, o.result.model.task, o.result.params) }, who);
  await logMetrics(ws, runId, [...metricList(o.result.metrics), ...(o.extraMetrics ?? [])], who);
  if (o.dataset) {
    const d = o.dataset;
    await ws.meta.logInputs(runId, [{ dataset: { name: d.name, digest: d.sha256.slice(0, 16), sourceType: 'trellis', source: JSON.stringify({ dataset: `${d.name}@${d.version}` }) }, tags: { 'mlflow.data.context': 'training' } }], who);
  }
  await ws.tracking.logArtifact(runId, 'model/model.json', JSON.stringify(o.result.model));
  const holdout = o.result.holdout;
  if (holdout && holdout.rowCount >= 10) {
    // The evaluation report on the held-out rows, with bootstrap intervals on every metric.
    o.onProgress?.(`writing the evaluation report (${holdout.rowCount} held-out rows)`);
    const report = evaluate(o.result.model, holdout, { bootstrap: { samples: 200, seed: 42, level: 0.95 } });
    await ws.tracking.logArtifact(runId, 'evaluation/evaluation.json', JSON.stringify(report, null, 2));
    await ws.tracking.logArtifact(runId, 'evaluation/evaluation.html', evaluationHtml(report));
  }
  await ws.meta.updateRun(runId, { status: 'FINISHED', endTime: Date.now() }, who);
  if (!o.register) return undefined;
  await ws.meta.getRegisteredModel(o.register).catch((e: unknown) => {
    if ((e as { code?: string }).code !== 'TRELLIS_MODEL_NOT_FOUND') throw e;
    return ws.meta.createRegisteredModel({ name: o.register! }, who);
  });
  return (await ws.registry.createVersion({ name: o.register, source: `runs:/${runId}/model`, runId }, who)).version;
}

interface TrainCliOptions {
  data: string; target: string; algo: string; param?: string[]; experiment: string; register?: string;
  cv?: string; search?: string; space?: string[]; trials?: string; objective?: string;
}

const fmt = (v: unknown) => (typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v));

export function trainCommand(): Command {
  return new Command('train')
    .description('train a model on a file or a dataset version, log it as a run, optionally register it; optionally cross-validate or search hyperparameters')
    .requiredOption('--data <file|name@v>', 'training data: a CSV/JSONL/Parquet/Arrow file or a dataset version')
    .requiredOption('--target <column>', 'the column to predict')
    .option('--algo <algo>', `trainer: ${ALGOS.join(', ')}`, 'linear')
    .option('--param <key=value...>', 'trainer parameters, e.g. l2=0.5 seed=7 test_size=0.25 (snake_case or camelCase)')
    .option('--experiment <name>', 'experiment to log the run in', 'Default')
    .option('--register <model>', 'register the trained model as a new version of this model')
    .option('--cv <k|time:k[:column]>', 'cross-validate: k shuffled folds (stratified for classifiers), or k time-ordered folds by a column or by row order; the model is then trained on all rows unless test_size is given')
    .option('--search <grid|random>', 'search hyperparameters: one child run per trial, the best parameters train the final model on all rows (unless test_size is given)')
    .option('--space <name=values...>', "a searched parameter: 'l2=0.1,1,10', 'l2=0.1..10' (uniform) or 'l2=0.1..10:log' (log-uniform)")
    .option('--trials <n>', 'random search: number of trials (default 10)')
    .option('--objective <metric>', 'metric to optimise (default: roc_auc for binary, accuracy for multiclass, rmse for regression)')
    .action(async (o: TrainCliOptions, c: Command) => {
      if (!(ALGOS as readonly string[]).includes(o.algo)) throw invalid(`--algo must be one of ${ALGOS.join(', ')}, got '${o.algo}'`);
      const algo = o.algo as Algo;
      const given = params(o.param);
      const resolved = resolveParams(algo, given);
      const scheme = o.cv === undefined ? undefined : parseCv(o.cv);
      if (o.search === undefined) {
        for (const [flag, v] of [['--space', o.space], ['--trials', o.trials], ['--objective', o.objective]] as const) {
          if (v !== undefined) throw invalid(`${flag} applies to a hyperparameter search; add --search grid|random`);
        }
      } else {
        if (o.search !== 'grid' && o.search !== 'random') throw invalid(`--search must be grid or random, got '${o.search}'`);
        if (!o.space?.length) throw invalid('--search needs at least one --space name=values');
        if (o.trials !== undefined && o.search !== 'random') throw invalid('--trials applies to --search random only; a grid runs every combination');
        if (o.trials !== undefined && !/^\d+$/.test(o.trials.trim())) throw invalid(`--trials must be a whole number, got '${o.trials}'`);
        if (o.trials !== undefined && Number(o.trials) < 1) throw invalid(`--trials must be at least 1, got ${o.trials}`);
      }
      const space = (o.space ?? []).map(parseSpace);
      const json = !!globals(c).json;
      const progress = (s: string) => process.stderr.write(`  ${s}\n`);
      await withWorkspace(c, async (ws) => {
        const who = actor(c);
        progress(`reading ${o.data}`);
        const { table, dataset } = await loadData(ws, o.data);
        // With cross-validation or a search, the estimate comes from there: the final model uses every row.
        const allRows = (fixed: Record<string, string | number>) =>
          (scheme || o.search) && !Object.keys(fixed).some((k) => k === 'test_size' || k === 'testSize') ? { ...fixed, testSize: 0 } : fixed;
        let found: SearchResult | undefined;
        let cv: CvResult | undefined;
        let runId: string | undefined;
        const startTime = Date.now();
        let expId: Promise<string> | undefined;
        const exp = () => (expId ??= experimentId(ws, o.experiment, who));
        const runTags = { 'trellis.trainer': o.algo };
        try {
          if (o.search) {
            const strategy = o.search as 'grid' | 'random';
            const { task } = readTarget(table, o.target, resolved.task as Task | undefined);
            found = await search(table, o.target, algo, given, {
              strategy, space, trials: o.trials === undefined ? undefined : Number(o.trials), seed: Number(resolved.seed ?? 42),
              objective: o.objective, cv: scheme, onProgress: progress,
              onTrial: async (t: Trial) => {
                runId ??= (await ws.meta.createRun({ experimentId: await exp(), runName: `search-${o.algo}-${o.target}`, startTime, tags: { ...runTags, 'trellis.search': strategy } }, who)).info.runId;
                await logTrial(ws, who, await exp(), runId, o, task, t);
              },
            });
            cv = found.best.cv;
          } else if (scheme) {
            cv = await crossValidate(table, o.target, algo, given, scheme, { onProgress: progress });
          }
          const finalParams = allRows(found ? found.bestParams as Record<string, string | number> : given);
          if (found) progress(`training the final model with ${Object.entries(found.best.params).map(([k, v]) => `${k}=${fmt(v)}`).join(' ')}`);
          const result = await train(table, o.target, algo, finalParams, { onProgress: progress });
          runId ??= (await ws.meta.createRun({ experimentId: await exp(), runName: `${o.algo}-${o.target}`, startTime, tags: runTags }, who)).info.runId;
          const extra = [...(cv ? cvMetrics(cv) : []), ...(found ? metricList(found.best.metrics, 'best_') : [])];
          if (found) {
            await ws.meta.logBatch(runId, { tags: [{ key: 'trellis.search.objective', value: found.objective.metric }, { key: 'trellis.search.trials', value: String(found.trials.length) }, { key: 'trellis.search.best_trial', value: String(found.best.index) }] }, who);
          }
          const version = await logModelRun(ws, who, runId, { ...o, dataset, result, extraMetrics: extra, onProgress: progress });
          report(json, o, runId, version, result, cv, found);
        } catch (e) {
          if (runId) await ws.meta.updateRun(runId, { status: 'FAILED', endTime: Date.now() }, who).catch(() => undefined);
          throw e;
        }
      });
    });
}

/** A child run for one trial (MLflow's convention: the tag `mlflow.parentRunId`). */
async function logTrial(ws: Workspace, who: Who, expId: string, parentId: string, o: TrainCliOptions, task: Task, t: Trial): Promise<void> {
  const run = await ws.meta.createRun({
    experimentId: expId, runName: `trial-${t.index}`, startTime: t.startTime,
    tags: { 'mlflow.parentRunId': parentId, 'trellis.trainer': o.algo, 'trellis.trial': String(t.index) },
  }, who);
  const id = run.info.runId;
  const all = resolveParams(o.algo as Algo, { ...params(o.param), ...t.params });
  // Under cross-validation the trainer's hold-out is not used: its size would only mislead.
  await ws.meta.logBatch(id, { params: runParams(o, task, all).filter((p) => !(t.cv && p.key === 'testSize')) }, who);
  await logMetrics(ws, id, t.cv ? cvMetrics(t.cv) : metricList(t.metrics), who);
  await ws.meta.updateRun(id, { status: 'FINISHED', endTime: t.endTime }, who);
}

function report(json: boolean, o: TrainCliOptions, runId: string, version: string | undefined, result: Trained, cv?: CvResult, found?: SearchResult): void {
  output(json, () => ({
    run_id: runId, model: o.register ?? null, version: version ?? null, metrics: result.metrics,
    ...(cv ? { cv: cvJson(cv) } : {}),
    ...(found ? {
      best_params: found.best.params, trials: found.trials.length, best_trial: found.best.index,
      objective: { metric: found.objective.metric, direction: found.objective.direction, value: found.best.objective },
    } : {}),
  }), () => {
    if (found) {
      const names = Object.keys(found.best.params);
      console.log(`${found.trials.length} trials, best first by ${found.objective.metric} (${found.objective.direction})`);
      printTable(found.trials.map((t) => ({ trial: t.index, ...Object.fromEntries(names.map((n) => [n, fmt(t.params[n])])), [found.objective.metric]: fmt(t.objective) })), ['trial', ...names, found.objective.metric]);
    }
    if (cv) {
      console.log(`${cv.folds.length}-fold ${cv.scheme.kind === 'time' ? 'time-ordered ' : ''}cross-validation${found ? ' of the best trial' : ''}`);
      printTable(Object.keys(cv.mean).map((metric) => ({ metric, mean: cv.mean[metric]!.toFixed(4), std: cv.std[metric]!.toFixed(4) })), ['metric', 'mean', 'std']);
    }
    console.log(`run ${runId}: ${result.model.task} model on ${result.trainRows} rows${result.testRows ? `, evaluated on ${result.testRows}` : ''}`);
    if (result.testRows) printTable(Object.entries(result.metrics).map(([metric, value]) => ({ metric, value: value.toFixed(4) })), ['metric', 'value']);
    if (version) console.log(`registered ${o.register} version ${version}`);
  });
}

export function predictCommand(): Command {
  return new Command('predict')
    .description('score a file with a registered model: one output row per input row, with prediction (and proba_<class>) columns')
    .requiredOption('--model <name@alias|name/version>', 'the model version to use')
    .requiredOption('--input <file>', 'rows to score')
    .requiredOption('--output <file>', 'CSV to write')
    .action(async (o: { model: string; input: string; output: string }, c: Command) => {
      await withWorkspace(c, async (ws) => {
        const { model, name, version } = await loadModelRef(ws, o.model);
        const v = { name, version };
        const table = await readTable(o.input);
        const r = await predictAsync(model, table);
        const names = table.columns.map((col) => col.name);
        const classes = r.classes ?? [];
        const header = [...names, 'prediction', ...classes.map((k) => `proba_${k}`)];
        const lines = [header.map(csvCell).join(',')];
        for (let i = 0; i < table.rowCount; i++) {
          const row = rowAt(table, i);
          const pred = classes.length ? classes[r.prediction[i]!] : r.prediction[i];
          lines.push([...names.map((n) => csvCell(row[n])), csvCell(pred), ...classes.map((_, k) => String(r.proba![i * classes.length + k]))].join(','));
        }
        await writeFile(o.output, `${lines.join('\n')}\n`);
        if (globals(c).json) printJson({ model: `${v.name}/${v.version}`, rows: table.rowCount, output: o.output });
        else console.log(`scored ${table.rowCount} rows with ${v.name} version ${v.version} → ${o.output}`);
      });
    });
}
