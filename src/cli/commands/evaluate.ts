import { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { evaluate, type BootstrapSpec, type EvaluationReport, type MetricValue } from '../../ml/evaluate.js';
import { evaluationHtml } from '../../ml/report/evaluation-html.js';
import { actor, globals, withBackend } from '../context.js';
import { columnList, fmt, numberOption, outputKind } from '../refs.js';
import { loadDataVia, loadModelVia, recordScoringRunVia } from '../scoring.js';
import { printJson, printTable } from '../output.js';


/** The artifact of an evaluate run that holds its report. */
const EVALUATION = 'evaluation.json';

export interface BootstrapFlags {
  bootstrap: string;
  seed: string;
  level: string;
}

/** The bootstrap flags shared by evaluate and fairness; `--bootstrap 0` turns intervals off. */
export function bootstrapFromFlags(o: BootstrapFlags): BootstrapSpec | undefined {
  const samples = numberOption('bootstrap', o.bootstrap, (n) => Number.isInteger(n) && n >= 0 && n <= 100_000, 'an integer from 0 to 100000')!;
  const seed = numberOption('seed', o.seed, Number.isInteger, 'an integer')!;
  const level = numberOption('level', o.level, (n) => n > 0 && n < 1, 'in (0, 1), e.g. 0.95')!;
  return samples === 0 ? undefined : { samples, seed, level };
}

export function withBootstrapFlags(c: Command): Command {
  return c
    .option('--bootstrap <n>', 'bootstrap resamples for the confidence intervals (0: none)', '1000')
    .option('--seed <n>', 'seed of the bootstrap resampling', '1')
    .option('--level <p>', 'coverage of the confidence intervals', '0.95');
}


export const ci = (m: { lower?: number; upper?: number } | undefined) => (m?.lower === undefined || m.upper === undefined ? '' : `[${fmt(m.lower)}, ${fmt(m.upper)}]`);

function printReport(r: EvaluationReport, model: string): void {
  const facts = [`${model}: ${r.task}, ${r.rows} labelled rows`];
  if (r.positiveClass !== undefined) facts.push(`positive class '${r.positiveClass}' at ${r.threshold}`);
  if (r.bootstrap) facts.push(`${Math.round(r.bootstrap.level * 100)}% intervals from ${r.bootstrap.samples} resamples (seed ${r.bootstrap.seed})`);
  console.log(facts.join('; '));
  printTable(Object.entries(r.metrics).map(([metric, m]) => ({ metric, value: fmt(m.value), interval: ci(m) })), ['metric', 'value', 'interval']);
  if (r.confusionMatrix) {
    const { labels, counts } = r.confusionMatrix;
    console.log('\nconfusion matrix (rows: true class, columns: predicted)');
    printTable(counts.map((row, t) => ({ true: labels[t], ...Object.fromEntries(labels.map((l, p) => [l, row[p]])) })), ['true', ...labels]);
  }
  const shown = r.task === 'regression' ? ['rmse', 'mae', 'r2'] : ['accuracy', r.task === 'binary' ? 'f1' : 'f1_macro', 'roc_auc'];
  for (const s of r.slices) {
    console.log(`\nby ${s.column} (${s.kind === 'quantiles' ? 'quantile buckets' : 'categories'})`);
    const cell = (m: MetricValue | undefined) => (m ? `${fmt(m.value)} ${ci(m)}`.trim() : '');
    printTable(s.groups.map((g) => ({ group: g.value, rows: g.rows, ...Object.fromEntries(shown.map((k) => [k, cell(g.metrics[k])])) })), ['group', 'rows', ...shown]);
  }
  for (const n of r.notes) console.log(`note: ${n}`);
}

export function evaluateCommand(): Command {
  return withBootstrapFlags(new Command('evaluate')
    .description('evaluate a registered model on labelled data: metrics with bootstrap intervals, confusion matrix, calibration, slices')
    .requiredOption('--model <name@alias|name/version>', 'the model version to evaluate')
    .requiredOption('--data <file|name@v>', 'labelled data: a CSV/JSONL/Parquet/Arrow file or a dataset version')
    .option('--target <column>', "the label column (default: the model's target)")
    .option('--slice <columns...>', 'columns to break the metrics down by (comma-separated or repeated)')
    .option('--threshold <p>', 'binary: predict the positive class when its probability is at least this', '0.5')
    .option('--positive <class>', "binary: the positive class (default: the positive class chosen at training, the model's second class)")
    .option('--output <file>', 'also write the report: .html (charts) or .json')
    .option('--experiment <name>', "experiment to record the run in (default: the experiment of the model's training run)"))
    .action(async (o: BootstrapFlags & { model: string; data: string; target?: string; slice?: string[]; threshold: string; positive?: string; output?: string; experiment?: string }, c: Command) => {
      const kind = outputKind(o.output);
      const bootstrap = bootstrapFromFlags(o);
      const threshold = numberOption('threshold', o.threshold, (n) => n >= 0 && n <= 1, 'in [0, 1]');
      await withBackend(c, async (b) => {
        const startTime = Date.now();
        const { model, name, version, modelVersion } = await loadModelVia(b, o.model);
        const data = await loadDataVia(b, o.data);
        const report = evaluate(model, data.table, {
          target: o.target, slices: columnList(o.slice), bootstrap, threshold: model.task === 'binary' ? threshold : undefined, positive: o.positive,
        });
        const ref = `${name}/${version}`;
        const on = data.dataset ? `${data.dataset.name}@${data.dataset.version}` : o.data;
        const doc = { model: ref, data: on, ...report };
        if (kind) await writeFile(o.output!, kind === 'html' ? evaluationHtml(report, `Evaluation of ${ref} on ${on}`) : `${JSON.stringify(doc, null, 2)}\n`);
        const run = await recordScoringRunVia(b, {
          kind: 'evaluate', model: modelVersion, data, experiment: o.experiment, startTime, output: o.output,
          params: { rows: String(report.rows), ...(report.threshold !== undefined ? { threshold: String(report.threshold) } : {}), ...(report.positiveClass !== undefined ? { positive_class: String(report.positiveClass) } : {}) },
          metrics: Object.fromEntries(Object.entries(report.metrics).map(([k, m]) => [k, m.value])),
          artifacts: [{ path: EVALUATION, data: `${JSON.stringify(doc, null, 2)}\n` }],
        }, actor(c));
        if (globals(c).json) printJson({ run_id: run.info.runId, ...doc });
        else {
          printReport(report, `${ref} on ${on}`);
          console.log(`\nrun ${run.info.runId}: the report is its artifact ${EVALUATION}`);
        }
        if (kind) (globals(c).json ? process.stderr : process.stdout).write(`wrote ${o.output}\n`);
      });
    });
}
