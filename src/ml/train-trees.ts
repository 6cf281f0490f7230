/**
 * Tree trainers on tables: histogram gradient boosting and random forest. Features are fitted for
 * trees (numbers as they are with missing values kept, strings as category codes split natively),
 * the ensemble is grown in numeric/ and stored in the model format with the transforms.
 */
import type { Table } from '../data/table.js';
import type { Task } from './model.js';
import type { Progress, TrainResult } from './prepare.js';

export interface GbdtParams {
  trees: number;
  learningRate: number;
  maxLeaves: number;
  /** 0: no limit. */
  maxDepth: number;
  minSamplesLeaf: number;
  l2: number;
  maxBins: number;
  /** Share of rows drawn (without replacement) for each tree. */
  subsample: number;
  /** Share of features drawn for each tree. */
  colsample: number;
  /** Stop after this many trees without improvement on the validation set; 0: never. */
  earlyStopping: number;
  /** Share of the training rows held out for early stopping (when it is on). */
  validationSize: number;
  maxCategories: number;
  threads: number;
  testSize: number;
  seed: number;
  task?: Task;
}

export const GBDT_DEFAULTS: GbdtParams = {
  trees: 100, learningRate: 0.1, maxLeaves: 31, maxDepth: 0, minSamplesLeaf: 20, l2: 0, maxBins: 255,
  subsample: 1, colsample: 1, earlyStopping: 0, validationSize: 0.1, maxCategories: 255, threads: 2, testSize: 0.2, seed: 42,
};

export interface ForestParams {
  trees: number;
  /** 0: no limit. */
  maxDepth: number;
  minSamplesLeaf: number;
  /** Share of features considered at each split; 0: √p for classifiers, p/3 for regression. */
  maxFeatures: number;
  /** Bootstrap sample size as a share of the rows. */
  subsample: number;
  maxBins: number;
  maxCategories: number;
  threads: number;
  testSize: number;
  seed: number;
  task?: Task;
}

export const FOREST_DEFAULTS: ForestParams = {
  trees: 100, maxDepth: 0, minSamplesLeaf: 1, maxFeatures: 0, subsample: 1, maxBins: 255, maxCategories: 255, threads: 2, testSize: 0.2, seed: 42,
};

export async function trainGbdt(_table: Table, _target: string, _params: Partial<GbdtParams>, _onProgress?: Progress): Promise<TrainResult> {
  throw new Error('gbdt: work in progress');
}

export async function trainForest(_table: Table, _target: string, _params: Partial<ForestParams>, _onProgress?: Progress): Promise<TrainResult> {
  throw new Error('forest: work in progress');
}
