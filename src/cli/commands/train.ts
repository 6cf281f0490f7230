import { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { invalid } from '../../core/errors.js';
import { rowAt, type CellValue } from '../../data/table.js';
import { predictAsync } from '../../ml/onnx/predict-async.js';
import { parseSpace } from '../../ml/search.js';
import { ALGOS, type Algo } from '../../ml/train.js';
import { parseCvSpec } from '../../ml/training-workflow.js';
import { trainingReport, type TrainingReport } from '../../sdk/backend.js';
import { isDataFile } from '../../workspace/scoring-runs.js';
import { actor, globals, serverChoice, withBackend, withWorkspace } from '../context.js';
import { loadDataVia, loadModelVia, recordScoringRunVia } from '../scoring.js';
import { output, printJson, printTable } from '../output.js';
import { columnList } from '../refs.js';

function params(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw invalid(`--param takes key=value, got '${kv}'`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** `--param` pairs with `--task` and `--positive-class`; a flag and a `--param` for the same thing must not disagree. */
function trainerParams(o: TrainCliOptions): Record<string, string> {
  const out = params(o.param);
  for (const [flag, key, value] of [['--task', 'task', o.task], ['--positive-class', 'positiveClass', o.positiveClass]] as const) {
    if (value === undefined) continue;
    const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    for (const k of [key, snake]) {
      if (out[k] !== undefined && out[k] !== value) throw invalid(`${flag} ${value} and --param ${k}=${out[k]} disagree; give one`);
      delete out[k];
    }
    out[key] = value;
  }
  return out;
}

function csvCell(v: CellValue | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** `k` (shuffled k-fold, stratified for classifiers) or `time:k[:column]` (expanding window). */
function parseCv(spec: string) {
  return parseCvSpec(spec, '--cv');
}

interface TrainCliOptions {
  data: string; target: string; algo: string; param?: string[]; exclude?: string[]; experiment: string; register?: string;
  cv?: string; search?: string; space?: string[]; trials?: string; objective?: string; task?: string; positiveClass?: string;
}

const fmt = (v: unknown) => (typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v));

/** The flags checked as flags, so that a mistake is named by the flag the user typed. */
function checkFlags(o: TrainCliOptions): void {
  if (!(ALGOS as readonly string[]).includes(o.algo)) throw invalid(`--algo must be one of ${ALGOS.join(', ')}, got '${o.algo}'`);
  if (o.task !== undefined && !['regression', 'binary', 'multiclass'].includes(o.task)) throw invalid(`--task must be regression, binary or multiclass, got '${o.task}'`);
  if (o.positiveClass !== undefined && o.task !== undefined && o.task !== 'binary') throw invalid(`--positive-class applies to a binary task, not --task ${o.task}`);
  if (o.search === undefined) {
    for (const [flag, v] of [['--space', o.space], ['--trials', o.trials], ['--objective', o.objective]] as const) {
      if (v !== undefined) throw invalid(`${flag} applies to a hyperparameter search; add --search grid|random`);
    }
    return;
  }
  if (o.search !== 'grid' && o.search !== 'random') throw invalid(`--search must be grid or random, got '${o.search}'`);
  if (!o.space?.length) throw invalid('--search needs at least one --space name=values');
  if (o.trials !== undefined && o.search !== 'random') throw invalid('--trials applies to --search random only; a grid runs every combination');
  if (o.trials !== undefined && !/^\d+$/.test(o.trials.trim())) throw invalid(`--trials must be a whole number, got '${o.trials}'`);
  if (o.trials !== undefined && Number(o.trials) < 1) throw invalid(`--trials must be at least 1, got ${o.trials}`);
}

export function trainCommand(): Command {
  return new Command('train')
    .description('train a model on a file or a dataset version, log it as a run, optionally register it; optionally cross-validate or search hyperparameters')
    .requiredOption('--data <file|name@v>', 'training data: a CSV/JSONL/Parquet/Arrow file or a dataset version')
    .requiredOption('--target <column>', 'the column to predict')
    .option('--algo <algo>', `trainer: ${ALGOS.join(', ')}`, 'linear')
    .option('--param <key=value...>', 'trainer parameters, e.g. l2=0.5 seed=7 test_size=0.25 (snake_case or camelCase)')
    .option('--exclude <columns...>', 'columns the model must not see: identifiers, or columns that give the target away (comma- or space-separated)')
    .option('--task <task>', 'regression, binary or multiclass (default: read from the target: two distinct values → binary, other numbers → regression, other labels → multiclass)')
    .option('--positive-class <label>', "binary: the class counted as positive (default: '1', 'true', 'yes' or 'y' when present, else the minority label)")
    .option('--experiment <name>', 'experiment to log the run in', 'Default')
    .option('--register <model>', 'register the trained model as a new version of this model')
    .option('--cv <k|time:k[:column]>', 'cross-validate: k shuffled folds (stratified for classifiers), or k time-ordered folds by a column or by row order; the model is then trained on all rows unless test_size is given')
    .option('--search <grid|random>', 'search hyperparameters: one child run per trial, the best parameters train the final model on all rows (unless test_size is given)')
    .option('--space <name=values...>', "a searched parameter: 'l2=0.1,1,10', 'l2=0.1..10' (uniform) or 'l2=0.1..10:log' (log-uniform)")
    .option('--trials <n>', 'random search: number of trials (default 10)')
    .option('--objective <metric>', 'metric to optimise (default: roc_auc for binary, accuracy for multiclass, rmse for regression)')
    .action(async (o: TrainCliOptions, c: Command) => {
      checkFlags(o);
      const cv = o.cv === undefined ? undefined : parseCv(o.cv);
      const search = o.search === undefined ? undefined : {
        strategy: o.search as 'grid' | 'random', space: (o.space ?? []).map(parseSpace),
        trials: o.trials === undefined ? undefined : Number(o.trials), objective: o.objective,
      };
      const exclude = o.exclude === undefined ? undefined : columnList(o.exclude);
      const json = !!globals(c).json;
      const progress = (line: string) => process.stderr.write(`  ${line}\n`);
      if (serverChoice(c)) {
        // The server trains on a dataset version of its workspace; the report is printed here as it is locally.
        if (isDataFile(o.data)) {
          throw invalid(`Against a server, --data names a dataset version of the server's workspace (name@version), not the file '${o.data}': add it first with \`trellis data add <name> ${o.data}\``);
        }
        await withBackend(c, async (b) => {
          const r = await b.train({
            data: o.data, target: o.target, algo: o.algo as Algo, params: trainerParams(o), exclude, cv: o.cv, experiment: o.experiment, register: o.register, report: true,
            search: search && { strategy: search.strategy, space: o.space ?? [], trials: search.trials, objective: search.objective },
          });
          for (const w of r.report!.warnings) process.stderr.write(`warning: ${w}\n`);
          report(json, r.summary!, r.report!, o.register, r.version ?? undefined);
        });
        return;
      }
      await withWorkspace(c, async (ws) => {
        const r = await ws.training.train({
          data: o.data, target: o.target, algo: o.algo as Algo, params: trainerParams(o), exclude, cv, search, experiment: o.experiment, register: o.register,
        }, actor(c), { onProgress: progress });
        // On stderr, so `--json` output stays clean; a typo should not silently make a feature categorical.
        for (const w of r.outcome.warnings) process.stderr.write(`warning: ${w}\n`);
        report(json, r.summary, trainingReport(r.outcome), o.register, r.version?.version);
      });
    });
}

function report(json: boolean, summary: Record<string, unknown>, outcome: TrainingReport, register: string | undefined, version: string | undefined): void {
  const { cv, search: found } = outcome;
  output(json, () => summary, () => {
    if (found) {
      const names = found.names;
      console.log(`${found.trials.length} trials, best first by ${found.metric} (${found.direction})`);
      printTable(found.trials.map((t) => ({ trial: t.index, ...Object.fromEntries(names.map((n) => [n, fmt(t.params[n])])), [found.metric]: fmt(t.objective) })), ['trial', ...names, found.metric]);
    }
    if (cv) {
      console.log(`${cv.folds}-fold ${cv.time ? 'time-ordered ' : ''}cross-validation${found ? ' of the best trial' : ''}`);
      printTable(Object.keys(cv.mean).map((metric) => ({ metric, mean: cv.mean[metric]!.toFixed(4), std: cv.std[metric]!.toFixed(4) })), ['metric', 'mean', 'std']);
    }
    console.log(`task: ${outcome.task}${outcome.positiveClass !== undefined ? `, positive class '${outcome.positiveClass}'` : ''}`);
    console.log(`run ${String(summary.run_id)}: ${outcome.task} model on ${outcome.trainRows} rows${outcome.testRows ? `, evaluated on ${outcome.testRows}` : ''}`);
    if (outcome.testRows) printTable(Object.entries(outcome.metrics).map(([metric, value]) => ({ metric, value: value.toFixed(4) })), ['metric', 'value']);
    if (version) console.log(`registered ${register} version ${version}`);
  });
}

export function predictCommand(): Command {
  return new Command('predict')
    .description('score a file or a dataset version with a registered model, recorded as a run: one output row per input row, with prediction (and proba_<class>) columns')
    .requiredOption('--model <name@alias|name@version|name/version>', 'the model version to use')
    .requiredOption('--input <file|name@version>', 'rows to score: a CSV/JSONL/Parquet/Arrow file or a dataset version')
    .option('--output <file>', 'also write the predictions to this CSV file (the run keeps them as its artifact predictions.csv)')
    .option('--experiment <name>', "experiment to record the run in (default: the experiment of the model's training run)")
    .action(async (o: { model: string; input: string; output?: string; experiment?: string }, c: Command) => {
      await withBackend(c, async (b) => {
        const startTime = Date.now();
        const { model, modelVersion: mv } = await loadModelVia(b, o.model);
        const data = await loadDataVia(b, o.input);
        const { table } = data;
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
        const csv = `${lines.join('\n')}\n`;
        if (o.output) await writeFile(o.output, csv);
        const run = await recordScoringRunVia(b, {
          kind: 'predict', model: mv, data, experiment: o.experiment, startTime, output: o.output,
          params: { rows: String(table.rowCount) }, artifacts: [{ path: PREDICTIONS, data: csv }],
        }, actor(c));
        const runId = run.info.runId;
        const input = data.dataset ? `${data.dataset.name}@${data.dataset.version}` : o.input;
        if (globals(c).json) printJson({ run_id: runId, model: `${mv.name}/${mv.version}`, input, rows: table.rowCount, artifact: PREDICTIONS, output: o.output ?? null });
        else console.log(`run ${runId}: scored ${table.rowCount} rows of ${input} with ${mv.name} version ${mv.version} → ${o.output ? `${o.output} and ` : ''}the run's ${PREDICTIONS}`);
      });
    });
}

/** The artifact of a predict run that holds its predictions. */
const PREDICTIONS = 'predictions.csv';
