/**
 * The built-in components, as data: their declared signatures (typed inputs with defaults, typed
 * outputs). The platform implements them; a pipeline only names them. `parsePipeline` adds the
 * definition of each built-in a step uses to the IR, so an IR is self-contained and its hash
 * changes when a built-in's signature does.
 *
 * This file holds data only and imports nothing: the IR module checks it against `ComponentDef`.
 */

const spec = <const T>(t: T): T => t;

const TRAINER_PARAMS = {
  trees: { type: 'integer', optional: true, description: 'gbdt, forest: number of trees' },
  learningRate: { type: 'number', optional: true, description: 'gbdt: shrinkage of each tree' },
  maxLeaves: { type: 'integer', optional: true, description: 'gbdt: leaves per tree' },
  maxDepth: { type: 'integer', optional: true, description: 'gbdt, forest: depth limit (0: none)' },
  minSamplesLeaf: { type: 'integer', optional: true, description: 'gbdt, forest: rows per leaf at least' },
  l1: { type: 'number', optional: true, description: 'linear: L1 penalty' },
  l2: { type: 'number', optional: true, description: 'gbdt, linear: L2 penalty' },
  subsample: { type: 'number', optional: true, description: 'gbdt, forest: share of rows per tree' },
  colsample: { type: 'number', optional: true, description: 'gbdt: share of features per tree' },
  maxFeatures: { type: 'number', optional: true, description: 'forest: share of features per split' },
  earlyStopping: { type: 'integer', optional: true, description: 'gbdt: stop after this many trees without improvement (0: never)' },
} as const;

export const BUILTINS = spec({
  ingest: {
    name: 'ingest', version: '1', kind: 'builtin',
    description: 'Reads a dataset version (name@version, name@latest), a data file or a source (s3://, https://, postgres:// or mysql:// with a query) into the run.',
    inputs: {
      dataset: { type: 'string', description: 'dataset version (name@version or name@latest), a CSV/JSONL/Parquet/Arrow file, or a source URI: s3://bucket/key, https://…, postgres://user@host/db, mysql://user@host/db' },
      query: { type: 'string', optional: true, description: 'with a postgres:// or mysql:// source: the query whose rows to read' },
    },
    outputs: { data: { type: 'Dataset' } },
  },
  validate: {
    name: 'validate', version: '1', kind: 'builtin',
    description: "Checks a dataset against a schema (by default the dataset's recorded schema) and passes it on.",
    inputs: {
      data: { type: 'Dataset' },
      schema: { type: 'File', optional: true, description: 'schema to check against instead of the recorded one' },
      failOn: { type: 'string', default: 'error', enum: ['error', 'warning', 'never'], description: 'findings that fail the step' },
    },
    outputs: { data: { type: 'Dataset', description: 'the same rows, once validated' }, report: { type: 'Report' } },
  },
  split: {
    name: 'split', version: '1', kind: 'builtin',
    description: 'Splits a dataset into training and test rows: at random, stratified by a column, or in time order.',
    inputs: {
      data: { type: 'Dataset' },
      strategy: { type: 'string', default: 'random', enum: ['random', 'stratified', 'time'] },
      testSize: { type: 'number', default: 0.2, description: 'share of rows in the test set' },
      orderBy: { type: 'string', optional: true, description: "strategy 'time': the columns that order the rows, comma-separated; the last rows are the test set" },
      stratifyBy: { type: 'string', optional: true, description: "strategy 'stratified': the column whose class shares both sets keep" },
      seed: { type: 'integer', default: 1 },
    },
    outputs: { train: { type: 'Dataset' }, test: { type: 'Dataset' } },
  },
  train: {
    name: 'train', version: '1', kind: 'builtin',
    description: 'Trains a built-in model (linear, gbdt or forest) and logs it with its hold-out metrics.',
    inputs: {
      data: { type: 'Dataset' },
      target: { type: 'string', description: 'the label column' },
      algo: { type: 'string', default: 'gbdt', enum: ['linear', 'gbdt', 'forest'] },
      task: { type: 'string', optional: true, enum: ['regression', 'binary', 'multiclass'], description: 'inferred from the target when not set' },
      exclude: { type: 'string', optional: true, description: 'columns the model must not see, comma-separated: row ids, and columns computed from the label (each must be a column of the data)' },
      ...TRAINER_PARAMS,
      seed: { type: 'integer', optional: true },
    },
    outputs: { model: { type: 'Model' }, metrics: { type: 'Metrics', description: 'metrics on the hold-out the trainer keeps back' } },
  },
  evaluate: {
    name: 'evaluate', version: '1', kind: 'builtin',
    description: 'Evaluates a model on labelled data: metrics with bootstrap intervals, slices, an HTML report.',
    inputs: {
      model: { type: 'Model' },
      data: { type: 'Dataset' },
      target: { type: 'string', optional: true, description: "the label column (default: the model's target)" },
      slices: { type: 'string', optional: true, description: 'columns to break the metrics down by, comma-separated' },
      bootstrap: { type: 'integer', default: 1000, description: 'bootstrap resamples for the intervals (0: none)' },
      seed: { type: 'integer', default: 1 },
    },
    outputs: { metrics: { type: 'Metrics' }, report: { type: 'Report' } },
  },
  gate: {
    name: 'gate', version: '1', kind: 'builtin',
    description: 'Decides whether a model may go on, from a condition over its metrics and those of a registered version.',
    inputs: {
      metrics: { type: 'Metrics' },
      condition: { type: 'string', description: "e.g. 'rmse <= 80 and rmse <= champion.rmse * 1.02'" },
      champion: { type: 'string', optional: true, description: 'registered version (name@alias or name/version) whose metrics `champion.<metric>` names' },
    },
    outputs: { decision: { type: 'Report', description: 'whether it passed, with the numbers that drove the decision' } },
  },
  register: {
    name: 'register', version: '1', kind: 'builtin',
    description: 'Registers a model as a new version of a registered model, optionally moving an alias to it.',
    inputs: {
      model: { type: 'Model' },
      name: { type: 'string', description: 'the registered model' },
      alias: { type: 'string', optional: true, description: 'alias to point at the new version' },
      metrics: { type: 'Metrics', optional: true, description: 'metrics recorded with the version' },
      decision: { type: 'Report', optional: true, description: 'a gate decision: nothing is registered unless it passed' },
    },
    outputs: { registration: { type: 'Report', description: 'the registered version: name, version and alias' } },
  },
  batchScore: {
    name: 'batch-score', version: '1', kind: 'builtin',
    description: 'Scores a dataset with a model.',
    inputs: {
      model: { type: 'Model' },
      data: { type: 'Dataset' },
    },
    outputs: { predictions: { type: 'Dataset' } },
  },
});

export type BuiltinCatalog = typeof BUILTINS;

/** The built-in definitions, in the order of the loop (ingest … register, batch-score). */
export const BUILTIN_LIST = Object.values(BUILTINS);

/** The built-in component with this name (and this version, when one is given). */
export function findBuiltin(name: string, version?: string): (typeof BUILTIN_LIST)[number] | undefined {
  return BUILTIN_LIST.find((c) => c.name === name && (version === undefined || c.version === version));
}
