import { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { invalid } from '../../core/errors.js';
import { fairness, type Estimate, type FairnessReport } from '../../ml/fairness.js';
import { fairnessHtml } from '../../ml/report/fairness-html.js';
import { globals, withBackend } from '../context.js';
import { printJson, printTable } from '../output.js';
import { bootstrapFromFlags, ci, withBootstrapFlags, type BootstrapFlags } from './evaluate.js';
import { columnList, fmt, numberOption, outputKind } from '../refs.js';
import { loadDataVia, loadModelVia } from '../scoring.js';

const cell = (e: Estimate) => `${fmt(e.value)} ${ci(e)}`.trim() || 'n/a';

function printReport(r: FairnessReport, model: string): void {
  const facts = [`${model}: ${r.rows} labelled rows, positive outcome '${r.positiveClass}' at ${r.threshold}, groups under ${r.minGroupSize} rows not compared`];
  if (r.bootstrap) facts.push(`${Math.round(r.bootstrap.level * 100)}% intervals from ${r.bootstrap.samples} resamples (seed ${r.bootstrap.seed}, ${r.bootstrap.stratified ? 'stratified by group' : 'unstratified'})`);
  console.log(facts.join('; '));
  for (const s of r.columns) {
    console.log(`\n${s.column} (${s.kind === 'quantiles' ? 'quantile buckets' : 'categories'})`);
    printTable(s.groups.map((g) => ({
      group: g.small ? `${g.group} *` : g.group, size: g.size, selection_rate: cell(g.selectionRate), tpr: cell(g.tpr), fpr: cell(g.fpr), precision: cell(g.precision), accuracy: cell(g.accuracy),
    })), ['group', 'size', 'selection_rate', 'tpr', 'fpr', 'precision', 'accuracy']);
    printTable([
      { gap: 'demographic parity difference', value: cell(s.demographicParityDifference) },
      { gap: 'demographic parity ratio', value: cell(s.demographicParityRatio) },
      { gap: 'equalised odds difference', value: cell(s.equalizedOddsDifference) },
      { gap: 'equal opportunity difference', value: cell(s.equalOpportunityDifference) },
    ], ['gap', 'value']);
    for (const f of s.flags) console.log(`${/violated|below the minimum|undefined|no gaps/.test(f) ? '!' : ' '} ${f}`);
  }
  if (r.columns.some((s) => s.groups.some((g) => g.small))) console.log('\n* below the minimum group size: reported, not compared');
}

export function fairnessCommand(): Command {
  return withBootstrapFlags(new Command('fairness')
    .description('group fairness of a registered binary classifier: per-group rates, parity and odds gaps, the four-fifths rule')
    .requiredOption('--model <name@alias|name/version>', 'the model version to assess (a binary classifier)')
    .requiredOption('--data <file|name@v>', 'labelled data: a CSV/JSONL/Parquet/Arrow file or a dataset version')
    .requiredOption('--sensitive <columns...>', 'sensitive columns, comma-separated or repeated (numeric ones in quantile buckets)')
    .option('--target <column>', "the label column (default: the model's target)")
    .option('--positive <class>', "the favourable outcome (default: the positive class chosen at training, the model's second class)")
    .option('--threshold <p>', 'a row is selected when P(positive) is at least this', '0.5')
    .option('--min-group-size <n>', 'groups with fewer rows are reported but not compared', '30')
    .option('--unstratified', 'resample rows across groups rather than within each group')
    .option('--output <file>', 'also write the report: .html (charts) or .json'))
    .action(async (o: BootstrapFlags & { model: string; data: string; sensitive: string[]; target?: string; positive?: string; threshold: string; minGroupSize: string; unstratified?: boolean; output?: string }, c: Command) => {
      const kind = outputKind(o.output);
      const sensitive = columnList(o.sensitive);
      if (!sensitive.length) throw invalid('--sensitive needs at least one column name');
      const bootstrap = bootstrapFromFlags(o);
      const threshold = numberOption('threshold', o.threshold, (n) => n >= 0 && n <= 1, 'in [0, 1]');
      const minGroupSize = numberOption('min-group-size', o.minGroupSize, (n) => Number.isInteger(n) && n >= 1, 'a positive integer');
      await withBackend(c, async (b) => {
        const { model, name, version } = await loadModelVia(b, o.model);
        const ref = `${name}/${version}`;
        if (model.task !== 'binary') throw invalid(`Fairness metrics need a binary classifier; ${ref} is a ${model.task} model${model.classes ? ` (classes ${model.classes.join(', ')})` : ''}`);
        const table = (await loadDataVia(b, o.data)).table;
        const report = fairness(model, table, {
          target: o.target, sensitive, positive: o.positive, threshold, minGroupSize, bootstrap: bootstrap && { ...bootstrap, stratified: !o.unstratified },
        });
        if (kind) await writeFile(o.output!, kind === 'html' ? fairnessHtml(report, `Fairness of ${ref} on ${o.data}`) : `${JSON.stringify({ model: ref, data: o.data, ...report }, null, 2)}\n`);
        if (globals(c).json) printJson({ model: ref, data: o.data, ...report });
        else printReport(report, `${ref} on ${o.data}`);
        if (kind) (globals(c).json ? process.stderr : process.stdout).write(`wrote ${o.output}\n`);
      });
    });
}
