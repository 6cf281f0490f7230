/**
 * Batch scoring, streamed: a data file of any size goes through a model a block of rows at a time
 * and comes out as a file holding the input columns plus `prediction` (the class label, for
 * classifiers) and one `proba_<class>` column per class, in the input's row order. Memory is
 * bounded by a block whatever the file's size (two blocks are in flight). Both cores work: a
 * block's trees are walked on the prediction worker (numeric/trees/predict-pool.ts) while this
 * thread writes the block before it and reads the block after it, then helps with what is left
 * of the walk. The output is written under a temporary name
 * and renamed at the end, so a failure or an interruption leaves nothing under its name.
 *
 * The model's input columns are read with the types of its signature (a value that does not fit
 * is an error naming its line and column); the others are copied through as text. Shared by
 * `trellis score` and the `batch-score` pipeline component.
 */
import { TrellisError, invalid } from '../core/errors.js';
import { readTableBlocks, type TableBlock } from '../data/readers/blocks.js';
import type { DataFormat, DataSource } from '../data/readers/index.js';
import { sourceName } from '../data/readers/source.js';
import type { Column, ColumnType, Table, TableSchema } from '../data/table.js';
import { checkOutputPath, openBlockWriter, type BlockWriter, type OutputFormat } from '../data/writers/blocks.js';
import { startPredict, type Predictions, type TrellisModel } from './model.js';
import { predictAsync } from './onnx/predict-async.js';

export interface BatchScoreOptions {
  /** A data file, bytes (a dataset version's) or a stream. */
  input: DataSource;
  /** The input's format when its name does not say it. */
  format?: DataFormat;
  /** The file to write; its folder must exist. */
  output: string;
  /** The output's format when its extension does not say it. */
  outputFormat?: OutputFormat;
  /** Rows per block (default 65,536). */
  blockRows?: number;
  /** Stops between blocks; the temporary file is removed. */
  signal?: AbortSignal;
  /** After each block: the rows scored so far. */
  onBlock?: (rows: number) => void;
}

export interface BatchScoreResult {
  rows: number;
  blocks: number;
  /** The columns written: the input's, then the prediction columns. */
  columns: string[];
}

/** A numeric feature trained on integers still takes a float, as `predict` does. */
const READ_AS: Record<ColumnType, ColumnType> = { integer: 'float', float: 'float', boolean: 'boolean', datetime: 'datetime', string: 'string' };

/** The types the model's input columns are read with. */
export function modelInputTypes(model: TrellisModel): TableSchema {
  return Object.fromEntries(model.features.inputs.map((i) => [i.name, READ_AS[i.type]]));
}

/** The names of the columns scoring adds: `prediction`, then `proba_<class>` per class. */
export function predictionColumnNames(model: TrellisModel): string[] {
  return ['prediction', ...(model.task === 'regression' ? [] : model.classes!.map((k) => `proba_${k}`))];
}

/** The prediction columns of `n` rows: the label (classifiers) or value, and each class's probability. */
export function predictionColumns(p: Predictions, n: number): Column[] {
  const classes = p.classes;
  if (!classes) return [{ name: 'prediction', type: 'float', values: p.prediction, valid: new Uint8Array(n).fill(1) }];
  const cols: Column[] = [{ name: 'prediction', type: 'string', codes: Int32Array.from(p.prediction), dictionary: classes }];
  if (!p.proba) return cols;
  const k = classes.length;
  const valid = new Uint8Array(n).fill(1);
  for (let c = 0; c < k; c++) {
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = p.proba[i * k + c]!;
    cols.push({ name: `proba_${classes[c]}`, type: 'float', values, valid });
  }
  return cols;
}

/** Refuses, before anything is written, input that lacks a model input or already has an output column. */
function checkColumns(model: TrellisModel, t: Table): void {
  const have = new Set(t.columns.map((c) => c.name));
  const missing = model.features.inputs.filter((i) => !have.has(i.name));
  if (missing.length) {
    throw new TrellisError('TRELLIS_INVALID_PARAMETER', {
      detail: `Input is missing the feature${missing.length > 1 ? 's' : ''} ${missing.map((i) => `'${i.name}' (${i.type})`).join(', ')}; its columns are: ${[...have].join(', ')}`,
    });
  }
  const clash = predictionColumnNames(model).filter((n) => have.has(n));
  if (clash.length) throw invalid(`Input already has a column named ${clash.map((n) => `'${n}'`).join(', ')}, which scoring adds; rename or drop it`);
}

/** One block, scored: its columns and the prediction columns. Feature errors name the row of the file. */
export async function scoreBlock(model: TrellisModel, block: TableBlock): Promise<Table> {
  const t = block.table;
  let p: Predictions;
  try {
    p = await predictAsync(model, t);
  } catch (e) {
    throw withFileRow(e, block.firstRow);
  }
  return { rowCount: t.rowCount, columns: [...t.columns, ...predictionColumns(p, t.rowCount)] };
}

/**
 * Starts a block: its features now and its trees on the prediction worker (an ONNX model is run
 * here and now); the function returned gives the scored block.
 */
async function startBlock(model: TrellisModel, block: TableBlock, into?: Float64Array): Promise<() => Table> {
  const t = block.table;
  if (model.estimator.kind === 'onnx') {
    const scored = await scoreBlock(model, block);
    return () => scored;
  }
  let finish: () => Predictions;
  try {
    finish = startPredict(model, t, into);
  } catch (e) {
    throw withFileRow(e, block.firstRow);
  }
  return () => ({ rowCount: t.rowCount, columns: [...t.columns, ...predictionColumns(finish(), t.rowCount)] });
}

/** Feature errors count rows from the block's start: make them count from the file's (1-based data rows). */
function withFileRow(e: unknown, firstRow: number): unknown {
  if (!(e instanceof TrellisError) || e.code !== 'TRELLIS_INVALID_PARAMETER') return e;
  const detail = (e.params as { detail?: unknown }).detail;
  const m = typeof detail === 'string' ? / in row (\d+)/.exec(detail) : null;
  if (!m) return e;
  return new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: (detail as string).replace(m[0], ` in data row ${firstRow + Number(m[1]) + 1}`) }, { cause: e });
}

/** Streams `input` through `model` into `output`: see the module comment. */
export async function batchScore(model: TrellisModel, o: BatchScoreOptions): Promise<BatchScoreResult> {
  // A path that cannot be written is refused before the input is read.
  checkOutputPath(o.output, o.outputFormat);
  const blocks = readTableBlocks(o.input, { format: o.format, blockRows: o.blockRows, types: modelInputTypes(model) });
  // Opened once the first block has been read and checked: bad input leaves not even a temporary file.
  let writer: BlockWriter | undefined;
  let rows = 0;
  let count = 0;
  let columns: string[] = [];
  // One block in flight: its trees are walked on the prediction worker while this thread writes the
  // block before it and reads the block after it.
  let pending: (() => Table) | undefined;
  const matrices: Float64Array[] = [];
  let started = 0;
  const flush = async () => {
    if (!pending) return;
    const scored = pending();
    pending = undefined;
    if (count === 0) columns = scored.columns.map((c) => c.name);
    writer ??= await openBlockWriter(o.output, o.outputFormat);
    await writer.write(scored);
    rows += scored.rowCount;
    count++;
    o.onBlock?.(rows);
  };
  try {
    for await (const block of blocks) {
      if (o.signal?.aborted) throw o.signal.reason ?? new Error('scoring was stopped');
      if (count === 0 && !pending) checkColumns(model, block.table);
      // Two feature matrices in shared memory, taken in turn: the block in flight's and this one's.
      const size = block.table.rowCount * model.features.outputs.length;
      const turn = started++ % 2;
      if ((matrices[turn]?.length ?? 0) < size) matrices[turn] = new Float64Array(new SharedArrayBuffer(8 * size));
      const next = await startBlock(model, block, matrices[turn]);
      await flush();
      pending = next;
    }
    await flush();
    if (o.signal?.aborted) throw o.signal.reason ?? new Error('scoring was stopped');
    if (!writer) throw new TrellisError('TRELLIS_DATA_EMPTY', { file: sourceName(o.input), detail: 'it has no rows to score' });
    await writer.finish();
  } catch (e) {
    await writer?.abort();
    throw e;
  }
  return { rows, blocks: count, columns };
}
