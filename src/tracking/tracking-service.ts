/**
 * Tracking as users see it, and the only door to the tracking port for the API, the CLI, the SDK
 * and the engines: searches take MLflow's filter strings, run artifacts are addressed by paths
 * relative to the run, a run's lifecycle is one call ({@link TrackingService.withRun}) that
 * finishes the run or fails it, and a run whose work is done is written in one transaction
 * ({@link TrackingService.recordRun}). Each caller parses and checks input the same way because
 * there is one way in. Writes through the artifact proxy are audited with the bytes' sha256, and
 * refused in a deleted run and in files a model version was registered from (they are frozen).
 */
import type { Readable } from 'node:stream';
import { TrellisError, invalid, isTrellisError } from '../core/errors.js';
import { newRunId } from '../core/ids.js';
import { normalizeArtifactPath, parseArtifactUri } from '../store/artifact-path.js';
import type { ArtifactInfo, ArtifactStore } from '../store/artifact-store.js';
import { LIMITS, excerpt } from '../store/limits.js';
import type { Actor, Page, Tags, ViewType } from '../store/ports/common.js';
import type { ModelVersion, RegistryStore } from '../store/ports/registry.js';
import type {
  CreateRunInput, DatasetInput, EncodedRun, Experiment, LogBatchInput, LoggedModel, Metric, RecordRunInput, Run, RunInfo, RunOutcome, RunStatus, TrackingStore,
} from '../store/ports/tracking.js';
import { runArtifactUri } from '../store/ports/tracking.js';
import { parseExperimentFilter, parseExperimentOrderBy, parseRunFilter, parseRunOrderBy } from './search/search-filter.js';

export const ARTIFACT_SCHEME = 'mlflow-artifacts';

export { LOG_MODEL_HISTORY_TAG } from '../store/ports/tracking.js';

/** The run tag holding why a run failed, when {@link TrackingService.withRun} failed it. */
export const RUN_ERROR_TAG = 'trellis.error';

/** Store path of a run's artifact root, from its `mlflow-artifacts:/<exp>/<run>/artifacts` URI. */
export function artifactStorePath(artifactUri: string): string {
  return parseArtifactUri(artifactUri, [ARTIFACT_SCHEME]).path;
}

/** A model as {@link TrackingService.recordRun} and {@link RunScope.logModel} take it: where under the run, and its flavors. */
export interface ModelSpec {
  artifactPath: string;
  flavors: Record<string, unknown>;
}

/**
 * A finished piece of work as one run records it. The artifacts are written first, under the
 * run's artifact root; the rest goes to the store in one transaction, so a crash leaves either no
 * run or the whole run, never a run without its parameters or its model.
 */
export interface RunRecord {
  runName?: string;
  startTime?: number;
  endTime?: number;
  /** Default FINISHED. */
  status?: Exclude<RunStatus, 'RUNNING' | 'SCHEDULED'>;
  tags?: Tags;
  params?: { key: string; value: string }[];
  metrics?: Metric[];
  inputs?: DatasetInput[];
  artifacts?: { path: string; data: Readable | Uint8Array | string }[];
  model?: ModelSpec;
}

/** What {@link TrackingService.withRun} hands its function: the run, and logging that is written when the run ends. */
export interface RunScope {
  readonly run: Run;
  readonly runId: string;
  /** Kept until the run ends, then written with its status in one transaction. */
  log(batch: LogBatchInput & { inputs?: DatasetInput[] }): void;
  /** Kept until the run ends, then appended to the run's log-model history in the same transaction. */
  logModel(model: ModelSpec): void;
  /** Written at once, under the run's artifact root. */
  logArtifact(path: string, data: Readable | Uint8Array | string): Promise<{ sha256: string; size: number }>;
}

/** A run search as callers write it: MLflow's filter and order_by strings. */
export interface RunSearch {
  experimentIds: string[];
  filter?: string;
  orderBy?: string[];
  maxResults?: number;
  pageToken?: string;
  viewType?: ViewType;
}

function parseRunSearch(q: RunSearch): Parameters<TrackingStore['searchRuns']>[0] {
  return {
    experimentIds: q.experimentIds, filter: parseRunFilter(q.filter), orderBy: parseRunOrderBy(q.orderBy),
    maxResults: q.maxResults, pageToken: q.pageToken, viewType: q.viewType,
  };
}

const clip = (s: string, bytes: number) => (Buffer.byteLength(s) > bytes ? `${Buffer.from(s).subarray(0, bytes - 3).toString('utf8')}…` : s);

/** MLflow's `utc_time_created`: `YYYY-MM-DD HH:MM:SS.ffffff` in UTC. */
function utcTimeCreated(ms: number): string {
  return `${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')}000`;
}

export class TrackingService {
  constructor(
    private readonly store: TrackingStore,
    private readonly artifacts: ArtifactStore,
    /** The versions registered from a run's files, which freeze them; without it nothing is frozen. */
    private readonly models?: Pick<RegistryStore, 'searchModelVersions'>,
  ) {}

  // ------------------------------------------------------------------ experiments

  async createExperiment(name: string, opts: { artifactLocation?: string; tags?: Tags }, who: Actor): Promise<string> {
    let artifactLocation: string | undefined;
    if (opts.artifactLocation) {
      // Trellis owns artifact storage: a location must be under its own artifact proxy, and is
      // recorded in one canonical spelling so that two spellings cannot name the same place.
      const { path } = parseArtifactUri(opts.artifactLocation, [ARTIFACT_SCHEME]);
      if (!path) throw invalid(`Invalid artifact_location '${excerpt(opts.artifactLocation)}': it names the artifact root itself`);
      const own = OWN_FOLDERS[path.split('/')[0]!];
      if (own) throw invalid(`Invalid artifact_location '${excerpt(opts.artifactLocation)}': it lies in Trellis's own folder '${path.split('/')[0]!}/' (${own})`);
      await this.refuseInsideOthers(opts.artifactLocation, path);
      artifactLocation = `${ARTIFACT_SCHEME}:/${path}`;
    }
    return this.store.createExperiment({ name, artifactLocation, tags: opts.tags }, who);
  }

  /**
   * An experiment's artifacts cannot lie inside another experiment's or a run's: its runs would
   * write into files that are not theirs. Top-level folders named by a number are where
   * experiments keep their artifacts by default (`mlflow-artifacts:/<id>`), for those that exist
   * and those still to come.
   */
  private async refuseInsideOthers(given: string, path: string): Promise<void> {
    const refuse = (detail: string) => invalid(`Invalid artifact_location '${excerpt(given)}': ${detail}`);
    const run = await this.runOfPath(path);
    if (run) throw refuse(`it lies inside the artifacts of run ${run.runId}`);
    let pageToken: string | undefined;
    do {
      const page = await this.store.searchExperiments({ viewType: 'ALL', maxResults: 1000, pageToken });
      for (const e of page.items) {
        let other: string;
        try {
          other = artifactStorePath(e.artifactLocation);
        } catch {
          continue;
        }
        if (path === other || path.startsWith(`${other}/`)) throw refuse(`it lies inside the artifacts of experiment ${e.experimentId} ('${excerpt(e.name)}')`);
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
    const top = path.split('/')[0]!;
    if (/^\d+$/.test(top)) throw refuse(`the folder '${top}/' is where experiment ${top} keeps its artifacts (experiments keep theirs under their id)`);
  }

  /** The experiment of that name, created when there is none (two writers racing both get the one created). */
  async ensureExperiment(name: string, who: Actor): Promise<Experiment> {
    const found = await this.findExperiment(name);
    if (found) return found;
    try {
      return await this.store.getExperiment(await this.createExperiment(name, {}, who));
    } catch (e) {
      if (isTrellisError(e) && e.code === 'TRELLIS_EXPERIMENT_EXISTS') return this.store.getExperimentByName(name);
      throw e;
    }
  }

  /** The experiment of that name, or undefined. */
  async findExperiment(name: string): Promise<Experiment | undefined> {
    return this.store.getExperimentByName(name).catch((e: unknown) => {
      if (isTrellisError(e) && e.code === 'TRELLIS_EXPERIMENT_NAME_NOT_FOUND') return undefined;
      throw e;
    });
  }

  getExperiment(id: string): Promise<Experiment> {
    return this.store.getExperiment(id);
  }

  getExperimentByName(name: string): Promise<Experiment> {
    return this.store.getExperimentByName(name);
  }

  async searchExperiments(q: { filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string; viewType?: ViewType }): Promise<Page<Experiment>> {
    return this.store.searchExperiments({
      filter: parseExperimentFilter(q.filter),
      orderBy: parseExperimentOrderBy(q.orderBy),
      maxResults: q.maxResults,
      pageToken: q.pageToken,
      viewType: q.viewType,
    });
  }

  renameExperiment(id: string, newName: string, who: Actor): Promise<void> {
    return this.store.renameExperiment(id, newName, who);
  }

  deleteExperiment(id: string, who: Actor): Promise<void> {
    return this.store.deleteExperiment(id, who);
  }

  restoreExperiment(id: string, who: Actor): Promise<void> {
    return this.store.restoreExperiment(id, who);
  }

  setExperimentTag(id: string, key: string, value: string, who: Actor): Promise<void> {
    return this.store.setExperimentTag(id, key, value, who);
  }

  deleteExperimentTag(id: string, key: string, who: Actor): Promise<void> {
    return this.store.deleteExperimentTag(id, key, who);
  }

  // ------------------------------------------------------------------ runs

  createRun(input: CreateRunInput, who: Actor): Promise<Run> {
    return this.store.createRun(input, who);
  }

  getRun(runId: string): Promise<Run> {
    return this.store.getRun(runId);
  }

  updateRun(runId: string, patch: { status?: RunStatus; endTime?: number; runName?: string }, who: Actor): Promise<RunInfo> {
    return this.store.updateRun(runId, patch, who);
  }

  deleteRun(runId: string, who: Actor): Promise<void> {
    return this.store.deleteRun(runId, who);
  }

  restoreRun(runId: string, who: Actor): Promise<void> {
    return this.store.restoreRun(runId, who);
  }

  logBatch(runId: string, batch: LogBatchInput, who: Actor): Promise<void> {
    return this.store.logBatch(runId, batch, who);
  }

  deleteRunTag(runId: string, key: string, who: Actor): Promise<void> {
    return this.store.deleteRunTag(runId, key, who);
  }

  logInputs(runId: string, datasets: DatasetInput[], who: Actor): Promise<void> {
    return this.store.logInputs(runId, datasets, who);
  }

  getMetricHistory(runId: string, key: string, page?: { maxResults?: number; pageToken?: string }): Promise<Page<Metric>> {
    return this.store.getMetricHistory(runId, key, page);
  }

  async searchRuns(q: RunSearch): Promise<Page<Run>> {
    return this.store.searchRuns(parseRunSearch(q));
  }

  /**
   * {@link searchRuns} for a caller that forwards the runs (the REST API): each run's data stays
   * the JSON text the store read it as, with no object per metric.
   */
  async searchRunsEncoded(q: RunSearch): Promise<Page<EncodedRun>> {
    return this.store.searchRunsEncoded(parseRunSearch(q));
  }

  /**
   * Appends a model (MLflow's `model_json`: artifact_path, flavors, utc_time_created, run_id) to
   * the run's log-model history. The append happens inside the store's transaction, so two
   * concurrent calls both land.
   */
  logModel(runId: string, model: LoggedModel, who: Actor): Promise<void> {
    return this.store.appendLoggedModel(runId, model, who);
  }

  /**
   * Runs `fn` inside a new run. What `fn` logs through its scope is written when it returns, with
   * the status FINISHED, in one transaction; when `fn` throws, the run is FAILED with the error in
   * its `trellis.error` tag (and what was logged so far), and the error goes on to the caller.
   */
  async withRun<T>(input: CreateRunInput, who: Actor, fn: (scope: RunScope) => Promise<T>): Promise<T> {
    const run = await this.store.createRun(input, who);
    const runId = run.info.runId;
    const root = artifactStorePath(run.info.artifactUri);
    const pending: Required<Pick<RunOutcome, 'metrics' | 'params' | 'tags' | 'inputs' | 'loggedModels'>> = { metrics: [], params: [], tags: [], inputs: [], loggedModels: [] };
    const scope: RunScope = {
      run, runId,
      log: (b) => {
        pending.metrics.push(...(b.metrics ?? []));
        pending.params.push(...(b.params ?? []));
        pending.tags.push(...(b.tags ?? []));
        pending.inputs.push(...(b.inputs ?? []));
      },
      logModel: (m) => pending.loggedModels.push(this.loggedModel(runId, m)),
      logArtifact: (path, data) => this.artifacts.put(`${root}/${normalizeArtifactPath(path)}`, data),
    };
    let result: T;
    try {
      result = await fn(scope);
    } catch (e) {
      await this.failRun(runId, pending, e, who);
      throw e;
    }
    try {
      await this.store.completeRun(runId, { ...pending, status: 'FINISHED', endTime: Date.now() }, who);
    } catch (e) {
      // What the function logged was refused: the run did not end as it should, so it failed.
      await this.failRun(runId, {}, e, who);
      throw e;
    }
    return result;
  }

  /** Fails a run with what it logged and the error; if what it logged is refused, with the error alone. */
  private async failRun(runId: string, pending: Omit<RunOutcome, 'status'>, e: unknown, who: Actor): Promise<void> {
    const error = { key: RUN_ERROR_TAG, value: clip(e instanceof Error ? e.message : String(e), LIMITS.runTagValueBytes) };
    const failed = { status: 'FAILED' as const, endTime: Date.now() };
    try {
      await this.store.completeRun(runId, { ...pending, tags: [...(pending.tags ?? []), error], ...failed }, who);
    } catch {
      await this.store.completeRun(runId, { tags: [error], ...failed }, who).catch(() => undefined);
    }
  }

  /**
   * Writes a run whose work is done: its artifacts first, under the root the run will have, then
   * the run with its tags, params, metrics, inputs, logged model and final status in one
   * transaction. One store write where a run logged step by step takes a dozen.
   */
  async recordRun(experiment: Experiment, r: RunRecord, who: Actor, opts: { userId?: string } = {}): Promise<Run> {
    const runId = newRunId();
    const root = artifactStorePath(runArtifactUri(experiment.artifactLocation, runId));
    for (const a of r.artifacts ?? []) await this.artifacts.put(`${root}/${normalizeArtifactPath(a.path)}`, a.data);
    return this.store.recordRun({
      runId, experimentId: experiment.experimentId, runName: r.runName, userId: opts.userId, startTime: r.startTime, tags: r.tags,
      params: r.params, metrics: r.metrics, inputs: r.inputs, loggedModels: r.model ? [this.loggedModel(runId, r.model)] : [],
      status: r.status ?? 'FINISHED', endTime: r.endTime ?? Date.now(),
    }, who);
  }

  /**
   * Completes a run opened earlier (e.g. the parent of a search's trials) with a record, as
   * {@link recordRun} writes a new one: artifacts, then the rest and the final status in one transaction.
   */
  async completeRun(run: Run, r: RunRecord, who: Actor): Promise<Run> {
    const root = artifactStorePath(run.info.artifactUri);
    for (const a of r.artifacts ?? []) await this.artifacts.put(`${root}/${normalizeArtifactPath(a.path)}`, a.data);
    const tags = Object.entries(r.tags ?? {}).map(([key, value]) => ({ key, value }));
    if (r.runName) tags.push({ key: 'mlflow.runName', value: r.runName });
    return this.store.completeRun(run.info.runId, {
      tags, params: r.params, metrics: r.metrics, inputs: r.inputs, loggedModels: r.model ? [this.loggedModel(run.info.runId, r.model)] : [],
      status: r.status ?? 'FINISHED', endTime: r.endTime ?? Date.now(),
    }, who);
  }

  /**
   * Ends a run opened earlier with a last batch (metrics, params, tags, inputs, models) and its end
   * status, in one transaction; nothing is written to its artifacts.
   */
  endRun(runId: string, outcome: RunOutcome, who: Actor): Promise<Run> {
    return this.store.completeRun(runId, outcome, who);
  }

  /**
   * Writes a run already ended, as given — its id may be chosen by the caller — in one transaction
   * with its batch and end status; nothing is written to its artifacts.
   */
  writeRun(input: RecordRunInput, who: Actor): Promise<Run> {
    return this.store.recordRun(input, who);
  }

  /** Marks a run FAILED with the error in its `trellis.error` tag (a run left RUNNING by a failure). */
  async failRunWith(runId: string, e: unknown, who: Actor): Promise<void> {
    await this.failRun(runId, {}, e, who);
  }

  private loggedModel(runId: string, m: ModelSpec): LoggedModel {
    return { artifact_path: m.artifactPath, flavors: m.flavors, utc_time_created: utcTimeCreated(Date.now()), run_id: runId };
  }

  // ------------------------------------------------------------------ artifacts

  /** A run's artifact root, read from its info alone (its data is not needed to reach its artifacts). */
  private async runRoot(runId: string, mustBeActive: boolean): Promise<{ info: RunInfo; root: string }> {
    const info = await this.store.getRunInfo(runId);
    if (mustBeActive && info.lifecycleStage !== 'active') {
      throw new TrellisError('TRELLIS_RUN_NOT_ACTIVE', { id: excerpt(runId), state: info.lifecycleStage });
    }
    return { info, root: artifactStorePath(info.artifactUri) };
  }

  async logArtifact(runId: string, path: string, data: Readable | Uint8Array | string): Promise<{ sha256: string; size: number }> {
    const rel = normalizeArtifactPath(path);
    const { root } = await this.runRoot(runId, true);
    return this.artifacts.put(`${root}/${rel}`, data);
  }

  /** Lists a directory of a run's artifacts; paths are relative to the run's artifact root. */
  async listArtifacts(runId: string, path?: string): Promise<{ rootUri: string; files: ArtifactInfo[] }> {
    const rel = normalizeArtifactPath(path ?? '', { allowEmpty: true });
    const { info, root } = await this.runRoot(runId, false);
    const dir = rel ? `${root}/${rel}` : root;
    const files = (await this.artifacts.list(dir)).map((f) => ({ ...f, path: f.path.slice(root.length + 1) }));
    return { rootUri: info.artifactUri, files };
  }

  async readArtifact(runId: string, path: string): Promise<Buffer> {
    const rel = normalizeArtifactPath(path);
    const { root } = await this.runRoot(runId, false);
    return this.artifacts.get(`${root}/${rel}`);
  }

  /** The artifact-store path of a file of a run, for streaming it (`openArtifact`). */
  async runArtifactPath(runId: string, path: string): Promise<string> {
    const rel = normalizeArtifactPath(path);
    const { root } = await this.runRoot(runId, false);
    return `${root}/${rel}`;
  }

  // The `mlflow-artifacts` proxy: paths are store paths, already normalized by the caller.

  /**
   * Stores bytes at a store path (the proxy's PUT), hashed as they stream, and records the write
   * with its sha256 as an audit event. Refused in Trellis's own folders, in a deleted run, and in
   * files a model version was registered from. A finished run still takes files, as MLflow's does.
   */
  async putArtifact(path: string, data: Readable | Uint8Array | string, who: Actor): Promise<{ sha256: string; size: number }> {
    const p = proxyWritable(path);
    const run = await this.checkProxyWrite(p);
    const written = await this.artifacts.put(p, data);
    await this.store.recordArtifactChange({ kind: 'put', path: p, runId: run?.runId, ...written }, who);
    return written;
  }

  /** The verified bytes at a store path, as a stream; the hash is checked before the first byte. */
  openArtifact(path: string): Promise<{ stream: Readable; size: number; sha256: string }> {
    return this.artifacts.open(normalizeArtifactPath(path));
  }

  /** The verified bytes at a store path (`mlflow-artifacts:/…` without its scheme). */
  getArtifact(path: string): Promise<Buffer> {
    return this.artifacts.get(normalizeArtifactPath(path));
  }

  /** Direct children of a store directory ('' for the root), paths relative to the store root. */
  listArtifactDir(dir: string): Promise<ArtifactInfo[]> {
    return this.artifacts.list(normalizeArtifactPath(dir, { allowEmpty: true }));
  }

  /** Deletes a file or a directory (the proxy's DELETE), refused and audited as {@link putArtifact} is. */
  async deleteArtifact(path: string, who: Actor): Promise<void> {
    const p = proxyWritable(path);
    const run = await this.checkProxyWrite(p);
    const was = await this.artifacts.stat(p);
    await this.artifacts.delete(p);
    await this.store.recordArtifactChange({ kind: 'delete', path: p, runId: run?.runId, ...(was ? { sha256: was.sha256, size: was.size } : {}) }, who);
  }

  /**
   * The run whose artifacts a store path is in (`…/<run id>/artifacts/…` under the run's own
   * artifact root), or undefined.
   */
  private async runOfPath(path: string): Promise<RunInfo | undefined> {
    const parts = path.split('/');
    for (let i = parts.length - 2; i >= 0; i--) {
      if (parts[i + 1] !== 'artifacts' || !/^[0-9a-f]{32}$/.test(parts[i]!)) continue;
      const run = await this.store.getRunInfo(parts[i]!).catch((e: unknown) => {
        if (isTrellisError(e, 'TRELLIS_RUN_NOT_FOUND')) return undefined;
        throw e;
      });
      if (run && artifactStorePath(run.artifactUri) === parts.slice(0, i + 2).join('/')) return run;
    }
    return undefined;
  }

  /**
   * A write or delete at `path` through the proxy: refused in a deleted run, and where a model
   * version's files are (or a directory holding them), naming the version. Returns the run.
   */
  private async checkProxyWrite(path: string): Promise<RunInfo | undefined> {
    const run = await this.runOfPath(path);
    if (!run) return undefined;
    if (run.lifecycleStage !== 'active') throw new TrellisError('TRELLIS_RUN_NOT_ACTIVE', { id: run.runId, state: run.lifecycleStage });
    if (!this.models) return run;
    const root = artifactStorePath(run.artifactUri);
    const versions = await this.models.searchModelVersions({ filter: [{ kind: 'attribute', key: 'run_id', comparator: '=', value: run.runId }], maxResults: 200000 });
    for (const v of versions.items) {
      const dir = versionDir(v, root);
      if (dir === undefined) continue;
      if (path === dir || path.startsWith(`${dir}/`) || dir.startsWith(`${path}/`)) {
        throw new TrellisError('TRELLIS_ARTIFACT_FROZEN', {
          path: excerpt(path), detail: `model ${v.name} version ${v.version} was registered from '${dir}', and the files a version was registered from never change`,
        });
      }
    }
    return run;
  }
}

/** The store path of a version's files (its source), or undefined when it names none of this run's. */
function versionDir(v: ModelVersion, runRoot: string): string | undefined {
  try {
    if (v.source.startsWith('runs:/')) {
      const rest = v.source.slice('runs:/'.length).split('/').slice(1).join('/');
      return normalizeArtifactPath(rest ? `${runRoot}/${rest}` : runRoot);
    }
    return artifactStorePath(v.source);
  } catch {
    return undefined;
  }
}

/**
 * The folders of the artifact store that Trellis writes itself and nobody may change through the
 * artifact proxy: dataset versions (whose bytes their sha256 names) and pipeline packages.
 */
const OWN_FOLDERS: Record<string, string> = {
  datasets: 'dataset versions are added with trellis data add, and their bytes never change',
  pipelines: 'pipeline packages are published with trellis pipelines deploy',
};

/** A store path the proxy may write or delete, or a refusal naming whose folder it is in. */
function proxyWritable(path: string): string {
  const p = normalizeArtifactPath(path);
  const why = OWN_FOLDERS[p.split('/')[0]!];
  if (why) throw new TrellisError('TRELLIS_ARTIFACT_READ_ONLY', { path: excerpt(p), detail: why });
  return p;
}
