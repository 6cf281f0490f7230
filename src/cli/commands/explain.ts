import { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { isTrellisError } from '../../core/errors.js';
import { column, rowAt, sliceRows, type CellValue, type Table } from '../../data/table.js';
import { explain, explanationRow, labelsFor, permutationImportance, type Explanation, type PermutationImportance, type PermutationMetric } from '../../ml/explain.js';
import { applyFeatures } from '../../ml/features.js';
import { predict, rawScores, type TrellisModel } from '../../ml/model.js';
import { shuffledIndex, takeRows } from '../../ml/prepare.js';
import { barsSvg, esc, num, page } from '../../ml/report/html.js';
import { globals, withBackend } from '../context.js';
import { printJson, printTable } from '../output.js';
import { fmt, numberOption, outputKind } from '../refs.js';
import { loadDataVia, loadModelVia } from '../scoring.js';

export interface RowExplanation {
  row: number;
  /** The row's input values. */
  input: Record<string, CellValue>;
  /** The predicted class or value. */
  prediction: string | number;
  /** Per output: the model's raw output, which the expected value plus the contributions add up to. */
  output: Record<string, number>;
  contributions: Record<string, Record<string, number>>;
}

export interface ExplainDocument {
  model: string;
  data: string;
  method: Explanation['method'];
  space: Explanation['space'];
  outputs: string[];
  /** Rows the global importance (and permutation importance) was measured on. */
  rowsUsed: number;
  expected: Record<string, number>;
  globalImportance: { column: string; importance: number; perOutput: Record<string, number> }[];
  permutationImportance: (Omit<PermutationImportance, 'columns'> & { rows: number; columns: { column: string; importance: number; std: number }[] }) | null;
  rows: RowExplanation[];
  notes: string[];
}

const SPACE: Record<Explanation['space'], string> = { 'log-odds': 'log-odds', logits: 'logits (softmax inputs)', probability: 'probability', value: 'predicted value' };

function rowExplanations(model: TrellisModel, rows: Table, e: Explanation): RowExplanation[] {
  const k = e.outputs.length;
  const raw = rawScores(model, applyFeatures(model.features, rows), rows.rowCount, model.features.outputs.length);
  const pred = predict(model, rows);
  return Array.from({ length: rows.rowCount }, (_, i) => {
    const values = rowAt(rows, i);
    return {
      row: i,
      input: Object.fromEntries(e.columns.map((c) => [c, values[c] ?? null])),
      prediction: pred.classes ? pred.classes[pred.prediction[i]!]! : pred.prediction[i]!,
      output: Object.fromEntries(e.outputs.map((o, j) => [o, raw[i * k + j]!])),
      contributions: explanationRow(e, i),
    };
  });
}

function hasColumn(t: Table, name: string): boolean {
  try {
    column(t, name);
    return true;
  } catch {
    return false;
  }
}

/** Bars left (negative) and right (positive) of a zero line: one row's largest contributions, labelled `column = value`. */
function contributionsSvg(contrib: Record<string, number>, input: Record<string, CellValue>, top = 10): string {
  const items = Object.entries(contrib).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, top)
    .map(([c, v]): [string, number] => [`${c} = ${input[c] === null || input[c] === undefined ? '(missing)' : String(input[c])}`, v]);
  const w = 480;
  const rowH = 18;
  const x0 = 180;
  const half = (w - x0 - 20) / 2;
  const mid = x0 + half;
  const max = Math.max(1e-12, ...items.map(([, v]) => Math.abs(v)));
  const bars = items.map(([name, v], i) => {
    const y = i * rowH;
    const len = (Math.abs(v) / max) * (half - 40);
    const x = v >= 0 ? mid : mid - len;
    const label = name.length > 28 ? `${name.slice(0, 27)}…` : name;
    const tx = v >= 0 ? mid + len + 4 : mid - len - 4;
    return `<text x="0" y="${y + 13}" font-size="11">${esc(label)}</text>` +
      `<rect x="${x.toFixed(1)}" y="${y + 3}" width="${len.toFixed(1)}" height="${rowH - 6}" fill="${v >= 0 ? '#e45756' : '#4c78a8'}"><title>${esc(`${name}: ${num(v)}`)}</title></rect>` +
      `<text x="${tx.toFixed(1)}" y="${y + 13}" font-size="10" text-anchor="${v >= 0 ? 'start' : 'end'}">${esc(num(v))}</text>`;
  }).join('');
  const h = items.length * rowH + 4;
  return `<svg role="img" aria-label="contributions" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><line x1="${mid}" x2="${mid}" y1="0" y2="${h}" stroke="#999"/>${bars}</svg>`;
}

export function explanationHtml(d: ExplainDocument): string {
  const single = d.outputs.length === 1;
  const parts = [
    `<p>${esc(d.method === 'tree-path-dependent' ? 'Exact TreeSHAP (path-dependent, along the training covers)' : 'Exact linear SHAP (features independent, means over the rows used)')}; contributions in ${esc(SPACE[d.space])}${single ? ` of ${esc(d.outputs[0]!)}` : ' per class'}. Measured on ${d.rowsUsed.toLocaleString('en-US')} rows.</p>`,
    `<table>${d.outputs.map((o) => `<tr><th>expected value${single ? '' : ` (${esc(o)})`}</th><td class="n">${num(d.expected[o])}</td></tr>`).join('')}</table>`,
    '<h2>Global importance: mean |SHAP value|</h2>',
    barsSvg(d.globalImportance.map((g) => ({ label: g.column, value: g.importance })), 'global importance'),
  ];
  const pi = d.permutationImportance;
  if (pi) {
    parts.push(`<h2>Permutation importance: drop in ${esc(pi.metric)} (baseline ${num(pi.baseline)}, ${pi.repeats} repeats, ${pi.rows.toLocaleString('en-US')} rows)</h2>`,
      barsSvg(pi.columns.map((c) => ({ label: c.column, value: c.importance, lower: c.importance - c.std, upper: c.importance + c.std, flagged: c.importance < 0 })), 'permutation importance'));
  }
  if (d.rows.length) {
    parts.push('<h2>Rows</h2><div class="grid">');
    for (const r of d.rows) {
      const charts = d.outputs.map((o) => `${single ? '' : `<h3>${esc(o)}</h3>`}<p class="note">output ${num(r.output[o])} = expected ${num(d.expected[o])} + contributions</p>${contributionsSvg(r.contributions[o]!, r.input)}`).join('');
      parts.push(`<section class="card"><h3>row ${r.row}: predicted ${esc(String(r.prediction))}</h3>${charts}</section>`);
    }
    parts.push('</div>');
  }
  for (const n of d.notes) parts.push(`<p class="note">${esc(n)}</p>`);
  return page(`Explanation of ${d.model} on ${d.data}`, parts.join('\n'));
}

function printDocument(d: ExplainDocument, perRow: boolean): void {
  const single = d.outputs.length === 1;
  console.log(`${d.model} on ${d.data}: ${d.method} SHAP in ${SPACE[d.space]}${single ? ` of '${d.outputs[0]}'` : ''}, ${d.rowsUsed} rows; expected ${d.outputs.map((o) => (single ? fmt(d.expected[o]) : `${o} ${fmt(d.expected[o])}`)).join(', ')}`);
  console.log('\nglobal importance (mean |SHAP|)');
  printTable(d.globalImportance.map((g) => ({ column: g.column, importance: fmt(g.importance), ...(single ? {} : Object.fromEntries(d.outputs.map((o) => [o, fmt(g.perOutput[o])]))) })), ['column', 'importance', ...(single ? [] : d.outputs)]);
  const pi = d.permutationImportance;
  if (pi) {
    console.log(`\npermutation importance (drop in ${pi.metric} from ${fmt(pi.baseline)}, ${pi.repeats} repeats, ${pi.rows} rows)`);
    printTable(pi.columns.map((c) => ({ column: c.column, drop: fmt(c.importance), std: fmt(c.std) })), ['column', 'drop', 'std']);
  }
  if (perRow) {
    for (const r of d.rows) {
      for (const o of d.outputs) {
        const top = Object.entries(r.contributions[o]!).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 5);
        console.log(`\nrow ${r.row} (predicted ${r.prediction})${single ? '' : `, ${o}`}: ${fmt(d.expected[o])} → ${fmt(r.output[o])}`);
        printTable(top.map(([c, v]) => ({ column: c, value: String(r.input[c] ?? ''), contribution: fmt(v) })), ['column', 'value', 'contribution']);
      }
    }
  }
  for (const n of d.notes) console.log(`note: ${n}`);
}

export function explainCommand(): Command {
  return new Command('explain')
    .description('explain a registered model on data: SHAP global importance, per-row contributions, and permutation importance when the data hold the target')
    .requiredOption('--model <name@alias|name/version>', 'the model version to explain')
    .requiredOption('--data <file|name@v>', 'rows to explain: a CSV/JSONL/Parquet/Arrow file or a dataset version')
    .option('--rows <n>', 'per-row explanations for the first n rows (default 10 in --output, none on screen)')
    .option('--sample <n>', 'rows (a seeded sample when there are more) for global and permutation importance', '2000')
    .option('--repeats <n>', 'shuffles per column for permutation importance', '5')
    .option('--metric <name>', 'permutation importance metric (default: roc_auc, accuracy or rmse by task)')
    .option('--seed <n>', 'seed of the sample and the shuffles', '42')
    .option('--output <file>', 'write the explanation: .json, or .html (charts)')
    .action(async (o: { model: string; data: string; rows?: string; sample: string; repeats: string; metric?: string; seed: string; output?: string }, c: Command) => {
      const kind = outputKind(o.output);
      const rowsWanted = numberOption('rows', o.rows, (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer') ?? (kind ? 10 : 0);
      const sample = numberOption('sample', o.sample, (n) => Number.isInteger(n) && n >= 1, 'a positive integer')!;
      const repeats = numberOption('repeats', o.repeats, (n) => Number.isInteger(n) && n >= 1 && n <= 1000, 'an integer from 1 to 1000')!;
      const seed = numberOption('seed', o.seed, Number.isInteger, 'an integer')!;
      const json = !!globals(c).json;
      await withBackend(c, async (b) => {
        const { model, name, version } = await loadModelVia(b, o.model);
        const table = (await loadDataVia(b, o.data)).table;
        const used = table.rowCount > sample ? takeRows(table, shuffledIndex(table.rowCount, seed).slice(0, sample).sort((a, b) => a - b)) : table;
        const e = explain(model, used);
        const first = sliceRows(table, 0, Math.min(rowsWanted, table.rowCount));
        const notes: string[] = [];
        let pi: ExplainDocument['permutationImportance'] = null;
        if (hasColumn(used, model.target)) {
          try {
            const { rows, y } = labelsFor(model, used);
            const r = permutationImportance(model, rows, y, { metric: o.metric as PermutationMetric | undefined, repeats, seed });
            pi = { ...r, rows: rows.rowCount, columns: r.columns.map(({ column: col, importance, std }) => ({ column: col, importance, std })) };
          } catch (err) {
            // A bad --metric is the user's to fix; labels that do not allow a measure are reported and the rest goes on.
            if (!isTrellisError(err) || o.metric) throw err;
            notes.push(`no permutation importance: ${err.message}`);
          }
        } else if (o.metric) notes.push(`no permutation importance: the data have no target column '${model.target}'`);
        const doc: ExplainDocument = {
          model: `${name}/${version}`, data: o.data, method: e.method, space: e.space, outputs: e.outputs, rowsUsed: e.rows,
          expected: Object.fromEntries(e.outputs.map((out, j) => [out, e.expected[j]!])),
          globalImportance: e.globalImportance.map((g) => ({ column: g.column, importance: g.importance, perOutput: Object.fromEntries(e.outputs.map((out, j) => [out, g.perOutput[j]!])) })),
          permutationImportance: pi,
          rows: first.rowCount ? rowExplanations(model, first, explain(model, first, { background: used })) : [],
          notes,
        };
        if (kind) await writeFile(o.output!, kind === 'html' ? explanationHtml(doc) : `${JSON.stringify(doc, null, 2)}\n`);
        if (json) printJson(doc);
        else printDocument(doc, !kind && rowsWanted > 0);
        if (kind) (json ? process.stderr : process.stdout).write(`wrote ${o.output}\n`);
      });
    });
}
