/**
 * Scoring, recorded: `trellis predict`, `trellis score` and `trellis evaluate` write a run as `trellis train` does,
 * so that lineage can answer which data a model version scored and what came of it.
 *
 * The run lists its data as a dataset input (a dataset version by reference, or a file by its path
 * and digest), names the model version it used (`trellis.model` tag and `model` param: lineage
 * draws model version → run from it), and keeps what it produced among its artifacts
 * (`trellis.outputs`: the artifacts, and the file written with `--output`). It is written in one
 * transaction after its artifacts, in the experiment given, or else the experiment of the run that
 * trained the model, or else `Default`.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { TrellisError, isTrellisError } from '../core/errors.js';
import type { DatasetService } from '../data/datasets.js';
import { formatOf, readTable } from '../data/readers/index.js';
import type { Table } from '../data/table.js';
import type { Actor } from '../store/ports/common.js';
import type { ModelVersion } from '../store/ports/registry.js';
import type { DatasetInput, Experiment, Metric, Run } from '../store/ports/tracking.js';
import { OUTPUTS_TAG, SCORED_MODEL_TAG, SCORING_TAG } from '../registry/lineage.js';
import type { TrackingService } from '../tracking/tracking-service.js';

/** `score` is `trellis score`, which streams a file into another and keeps no artifact of its own. */
export type ScoringKind = 'predict' | 'evaluate' | 'score';


/** Data read for scoring: a dataset version, or a file with its digest. */
export interface ScoringData {
  table: Table;
  /** As the user wrote it. */
  ref: string;
  dataset?: { name: string; version: number; sha256: string };
  file?: { path: string; sha256: string };
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Whether a data argument names a file rather than a dataset version: it exists, or it has a path
 * separator or a data file's extension (so that a missing file is reported as one).
 */
export function isDataFile(ref: string): boolean {
  if (existsSync(ref) || formatOf(ref) !== undefined || /\.json$/i.test(ref)) return true;
  if (ref.includes('@') || /^[^/\\]+\/(v?\d+|latest)$/.test(ref)) return false;
  return /[/\\]/.test(ref) || ref.startsWith('.');
}

/** A data file, or a dataset version of the workspace (`name@3`, `name/3`, `name@latest`): see {@link isDataFile}. */
export async function readScoringData(data: Pick<DatasetService, 'get' | 'loadVersion'>, ref: string): Promise<ScoringData> {
  if (isDataFile(ref)) {
    const table = await readTable(ref).catch((e: unknown) => {
      if (!isTrellisError(e, 'TRELLIS_DATA_FORMAT') || formatOf(ref) !== undefined) throw e;
      throw new TrellisError('TRELLIS_DATA_FORMAT', {
        file: ref, format: 'a data file',
        detail: `its name has no data file extension (.csv, .tsv, .jsonl, .parquet, .arrow): rename it, or store it with \`trellis data add <name> ${ref} --format csv\` and pass <name>@<version>`,
      });
    });
    return { table, ref, file: { path: resolve(ref), sha256: await sha256File(ref) } };
  }
  const v = await data.get(ref);
  return { table: await data.loadVersion(v), ref, dataset: { name: v.name, version: v.version, sha256: v.sha256 } };
}

function datasetInput(d: ScoredData, context: string): DatasetInput {
  if (d.dataset) {
    return {
      dataset: { name: d.dataset.name, digest: d.dataset.sha256.slice(0, 16), sourceType: 'trellis', source: JSON.stringify({ dataset: `${d.dataset.name}@${d.dataset.version}` }) },
      tags: { 'mlflow.data.context': context },
    };
  }
  const f = d.file!;
  return { dataset: { name: basename(f.path), digest: f.sha256.slice(0, 16), sourceType: 'local', source: JSON.stringify({ file: f.path }) }, tags: { 'mlflow.data.context': context } };
}

/** What a run records of its data: which data it was, not its rows. */
export type ScoredData = Pick<ScoringData, 'ref' | 'dataset' | 'file'>;

export interface ScoringRunRequest {
  kind: ScoringKind;
  model: ModelVersion;
  data: ScoredData;
  /** Experiment to record the run in (created if missing); default: the experiment of the model's training run. */
  experiment?: string;
  params?: Record<string, string>;
  metrics?: Record<string, number>;
  /** Written under the run's artifact root before the run is recorded. */
  artifacts: { path: string; data: string | Uint8Array }[];
  /** A file the command also wrote. */
  output?: string;
  startTime: number;
}

/** What recording a scoring run needs of tracking: the service itself, or the same calls over a server's API. */
export type ScoringTracking = Pick<TrackingService, 'recordRun' | 'getRun' | 'getExperiment' | 'ensureExperiment'>;

/** The experiment a scoring run goes to: the one named, else the model's training run's, else `Default`. */
async function experimentFor(tracking: ScoringTracking, req: ScoringRunRequest, who: Actor): Promise<Experiment> {
  if (req.experiment !== undefined) return tracking.ensureExperiment(req.experiment, who);
  if (req.model.runId) {
    try {
      const run = await tracking.getRun(req.model.runId);
      const exp = await tracking.getExperiment(run.info.experimentId);
      if (exp.lifecycleStage === 'active') return exp;
    } catch (e) {
      if (!isTrellisError(e, 'TRELLIS_RUN_NOT_FOUND', 'TRELLIS_EXPERIMENT_NOT_FOUND')) throw e;
    }
  }
  return tracking.ensureExperiment('Default', who);
}

/** Records a finished predict or evaluate run: see the module comment. */
export async function recordScoringRun(tracking: ScoringTracking, req: ScoringRunRequest, who: Actor): Promise<Run> {
  const model = `${req.model.name}/${req.model.version}`;
  const data = req.data.dataset ? `${req.data.dataset.name}@${req.data.dataset.version}` : req.data.file!.path;
  const outputs = [...req.artifacts.map((a) => `artifact:${a.path}`), ...(req.output ? [`file:${resolve(req.output)}`] : [])];
  const time = Date.now();
  const metrics: Metric[] = Object.entries(req.metrics ?? {}).filter(([, v]) => Number.isFinite(v)).map(([key, value]) => ({ key, value, timestamp: time, step: 0 }));
  const params = { model, data, ...(req.output ? { output: resolve(req.output) } : {}), ...req.params };
  return tracking.recordRun(await experimentFor(tracking, req, who), {
    runName: `${req.kind}-${req.model.name}-v${req.model.version}`,
    startTime: req.startTime,
    tags: { [SCORING_TAG]: req.kind, [SCORED_MODEL_TAG]: model, [OUTPUTS_TAG]: JSON.stringify(outputs) },
    params: Object.entries(params).map(([key, value]) => ({ key, value })),
    metrics,
    inputs: [datasetInput(req.data, req.kind === 'evaluate' ? 'evaluation' : 'scoring')],
    artifacts: req.artifacts,
  }, who);
}
