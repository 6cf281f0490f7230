/**
 * Training, recorded: the workflow of `ml/training-workflow.ts` run on a file or a dataset version,
 * its run written through the tracking service in one transaction at the end, and the model
 * registered through the registry service. One implementation behind `trellis train`, the SDK's
 * `train` and `POST /api/2.0/trellis/train`.
 *
 * A search's trials are recorded as they end (one write each), under a parent run opened at the
 * first trial; the parent is completed with the final model in one write, or failed with the
 * error. Nothing is recorded — not even the experiment — for a request refused before training.
 */
import type { DatasetService } from '../data/datasets.js';
import type { TrainingDataset, TrainingOutcome, TrainingRequest } from '../ml/training-workflow.js';
import type { Progress } from '../ml/prepare.js';
import type { RegistryService } from '../registry/registry-service.js';
import type { Actor } from '../store/ports/common.js';
import type { ModelVersion } from '../store/ports/registry.js';
import type { DatasetInput, Experiment, Run } from '../store/ports/tracking.js';
import type { TrackingService } from '../tracking/tracking-service.js';

export interface TrainRequest extends TrainingRequest {
  /** Experiment to log the run in (created if missing); default `Default`. */
  experiment?: string;
  /** Register the trained model as a new version of this model. */
  register?: string;
}

export interface TrainResult {
  outcome: TrainingOutcome;
  run: Run;
  version?: ModelVersion;
  /** What `trellis train --json` prints and the REST route answers. */
  summary: Record<string, unknown>;
}

function datasetInput(d: TrainingDataset): DatasetInput {
  return {
    dataset: { name: d.name, digest: d.sha256.slice(0, 16), sourceType: 'trellis', source: JSON.stringify({ dataset: `${d.name}@${d.version}` }) },
    tags: { 'mlflow.data.context': 'training' },
  };
}

export class TrainingService {
  constructor(private readonly tracking: TrackingService, private readonly registry: RegistryService, private readonly data: DatasetService) {}

  /**
   * `files: false` reads `data` as a dataset version only, never as a path: for requests from
   * clients of the server, whose file system is not theirs to name.
   */
  async train(req: TrainRequest, who: Actor, opts: { onProgress?: Progress; files?: boolean } = {}): Promise<TrainResult> {
    // The trainers load on first use: a workspace opened to list runs never pays for them.
    const { checkTrainingRequest, readTrainingData, runTraining, trainingSummary } = await import('../ml/training-workflow.js');
    checkTrainingRequest(req);
    const progress = opts.onProgress;
    progress?.(`reading ${req.data}`);
    const { table, dataset } = await readTrainingData(req.data, this.data, { files: opts.files ?? true });
    const startTime = Date.now();
    let experiment: Experiment | undefined;
    const exp = async () => (experiment ??= await this.tracking.ensureExperiment(req.experiment ?? 'Default', who));
    // The parent of a search's trials, open until the final model is recorded in it.
    let parent: Run | undefined;
    let run: Run;
    let outcome: TrainingOutcome;
    try {
      outcome = await runTraining(table, req, {
        onProgress: progress,
        onTrial: async (trial) => {
          parent ??= await this.tracking.createRun({
            experimentId: (await exp()).experimentId, runName: `search-${req.algo}-${req.target}`, startTime,
            tags: { 'trellis.trainer': req.algo, 'trellis.search': req.search?.strategy ?? '' },
          }, who);
          await this.tracking.recordRun(await exp(), { ...trial, tags: { ...trial.tags, 'mlflow.parentRunId': parent.info.runId } }, who);
        },
      }, dataset);
      const record = { ...outcome.run, startTime, inputs: dataset ? [datasetInput(dataset)] : [] };
      run = parent ? await this.tracking.completeRun(parent, record, who) : await this.tracking.recordRun(await exp(), record, who);
    } catch (e) {
      if (parent) await this.tracking.failRunWith(parent.info.runId, e, who).catch(() => undefined);
      throw e;
    }
    // The run is complete whatever happens next: a refused registration does not undo the training.
    const version = req.register ? (await this.registry.registerRun({ name: req.register, run, artifactPath: 'model' }, who)).version : undefined;
    return { outcome, run, version, summary: trainingSummary(outcome, { runId: run.info.runId, model: req.register, version: version?.version }) };
  }
}
