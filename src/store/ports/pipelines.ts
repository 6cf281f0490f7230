/**
 * The pipeline port: published pipeline versions, and the records of pipeline runs the engine
 * keeps. Drawn apart from tracking because a pipeline's identity (its package hash) and its run
 * state (cache keys, leases, lineage edges) are the engine's own records, which tracking only
 * mirrors as MLflow runs so that MLflow clients can see them. Triggers, which the scheduler writes
 * to ask for a run, are a port of their own (`triggers.ts`).
 *
 * Invariants the adapter owns, each inside one transaction with its audit event:
 * - versions number 1, 2, 3 … per pipeline; the same package (sha256) under the same name is the
 *   same version, returned again with nothing written;
 * - pipeline names are identifiers (letters, digits, `_`, `-`), the concurrency policy one of
 *   `skip`, `queue`, `cancel-previous`.
 */
import type { Actor } from './common.js';

/** A published pipeline: its package (IR and code bundle) stored as an artifact, numbered 1, 2, … per name. */
export interface PipelineVersion {
  name: string;
  version: number;
  /** The IR's own `version` field (a label the author chose). */
  irVersion: string;
  /** sha256 of the package: the identity of the version within its pipeline. */
  packageSha256: string;
  irHash: string;
  /** Artifact-store path of the package JSON. */
  location: string;
  /** The IR's `triggers` (trigger specs as the pipeline declares them). */
  triggers: unknown[];
  /** The IR's concurrency policy: `skip`, `queue` or `cancel-previous`. */
  concurrency: string;
  createdBy: string;
  createdAt: number;
}

export interface CreatePipelineVersionInput {
  name: string;
  irVersion: string;
  packageSha256: string;
  irHash: string;
  location: string;
  triggers?: unknown[];
  concurrency?: string;
}

/**
 * How a pipeline is deployed: which version its triggers run, and whether they fire. Deploying a
 * version makes it the active one; a rollback pins an earlier one until the next deploy; `undeploy`
 * takes the pipeline (or one version) out of service, keeping every version on record; a pause
 * stops its cron, dataset and upstream-pipeline triggers (a run asked for through the API still runs).
 */
export interface PipelineDeployment {
  name: string;
  /** The version triggers run: the pinned one, else the newest not withdrawn; null when undeployed or every version is withdrawn. */
  active: number | null;
  latest: number;
  /** Set by a rollback, cleared by the next deploy. */
  pinned: number | null;
  paused: boolean;
  undeployed: boolean;
  /** Versions taken out of service one by one, ascending. */
  withdrawn: number[];
  /** When the deployment last changed (a deploy, a rollback, triggers resumed): conditions count events after it. Null for a pipeline deployed before these records. */
  changedAt: number | null;
  changedBy: string | null;
}

export type DeploymentChange =
  | { action: 'pause' }
  | { action: 'resume-triggers' }
  /** Without a version, the whole pipeline. */
  | { action: 'undeploy'; version?: number }
  | { action: 'rollback'; version: number };

/** Pipeline versions (this section) and the records of pipeline runs (see {@link PipelineRunStore} below). */
export interface PipelineStore extends PipelineRunStore {
  // ------------------------------------------------------------------ pipeline versions
  /**
   * Records a published package as the pipeline's next version. The same package (sha256) under
   * the same name is the same version: the existing one is returned with `created: false`.
   */
  createPipelineVersion(input: CreatePipelineVersionInput, who: Actor): Promise<{ version: PipelineVersion; created: boolean }>;
  /** A version by number, or the latest when `version` is undefined. */
  getPipelineVersion(name: string, version?: number): Promise<PipelineVersion>;
  /** Oldest first. */
  listPipelineVersions(name: string): Promise<PipelineVersion[]>;
  /** Every pipeline with a version, by name, each as its latest version. */
  listPipelines(): Promise<PipelineVersion[]>;
  /**
   * How the pipeline is deployed. `createPipelineVersion` makes the version it records (or finds)
   * the active one: it clears a pin, an undeploy and that version's withdrawal (a pause stays).
   */
  getPipelineDeployment(name: string): Promise<PipelineDeployment>;
  /** Every pipeline's deployment, by name. */
  listPipelineDeployments(): Promise<PipelineDeployment[]>;
  /** Changes the deployment, audited; a rollback to a withdrawn version puts it back in service. */
  changePipelineDeployment(name: string, change: DeploymentChange, who: Actor): Promise<PipelineDeployment>;
}

// ==================================================================== pipeline runs, step runs, leases
//
// The engine's records of what ran. A pipeline run and each of its step runs are rows of their own,
// the truth the cache, resume, worker takeover, `pipelines why` and lineage read; each is mirrored
// as an MLflow run with the same id (and the trellis.* tags it always had), so that MLflow clients
// see them, but nothing reads the mirror back.
//
// Invariants the adapter owns:
// - a run's or step run's status leaves RUNNING once, by compare-and-set: an ended step is never
//   ended again, and a step whose lease was taken over cannot be ended by its former holder (the
//   lease epoch fences it);
// - a step lease is claimed by compare-and-set on its epoch: of any number of claimers racing for a
//   step whose lease is free or expired, exactly one wins, and each claim adds one to the epoch;
//   a pipeline run is resumed by compare-and-set on its runner epoch in the same way;
// - state transitions (started, finished, failed, killed, claimed, taken over, cancel requested,
//   resumed) are audited in their transaction; signs of life (`touchPipelineRun`, `touchStepLease`)
//   are one unaudited write each;
// - the cache lookup is one indexed query on the step's cache key.

export type PipelineRunStatus = 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED';
export type StepRunStatus = 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED';
export type PipelineParamValue = string | number | boolean;

/** The process executing a pipeline run, as it last said it was alive. */
export interface PipelineRunner {
  host: string;
  pid: number;
  heartbeatAt: number;
  /** One more each time the run is resumed: a runner that has been replaced cannot touch or end the run. */
  epoch: number;
}

export interface PipelineRunRecord {
  /** The id of the run, which is also the id of its MLflow mirror. */
  id: string;
  pipeline: string;
  /** The IR's own `version` label. */
  pipelineVersion: string;
  irHash: string;
  /** The experiment the run and its steps are recorded in: the scope of the cache. */
  experimentId: string;
  status: PipelineRunStatus;
  params: Record<string, PipelineParamValue>;
  /** The folder relative paths of the pipeline were resolved from. */
  baseDir: string;
  noCache: boolean;
  runner: PipelineRunner;
  failedStep?: string;
  error?: string;
  /** Steps that did not run because an upstream step failed or the run was cancelled. */
  skipped: string[];
  createdBy: string;
  startTime: number;
  endTime?: number;
  resumedAt?: number;
  mlflowRunId: string;
  /**
   * False for a run converted from an older store whose IR-dependent lineage edges (which upstream
   * step fed which input, which version a register step registered) are not filled in yet: they
   * need the run's `pipeline.json` and outputs, which live in the artifact store.
   */
  edgesComplete: boolean;
}

export interface CreatePipelineRunInput {
  /** The id of the MLflow run that mirrors it. */
  id: string;
  pipeline: string;
  pipelineVersion: string;
  irHash: string;
  experimentId: string;
  params: Record<string, PipelineParamValue>;
  baseDir: string;
  noCache?: boolean;
  runner: { host: string; pid: number };
  startTime?: number;
}

export interface EndPipelineRunInput {
  status: Exclude<PipelineRunStatus, 'RUNNING'>;
  failedStep?: string;
  error?: string;
  skipped?: string[];
  /** The runner's epoch: a runner replaced by a resume does not end the run. */
  epoch?: number;
}

/** One output of a step: what it is, its bytes' sha256, and the step run whose artifacts hold them (`outputs/<name>`). */
export interface StepOutputRecord {
  type: string;
  sha256: string;
  /** The step run whose artifacts hold the bytes (for a cached step, the run that made them). */
  run: string;
  name: string;
  kind: 'file' | 'dir';
  meta?: Record<string, string>;
}

export interface StepRunRecord {
  /** The id of the step run, which is also the id of its MLflow mirror. */
  id: string;
  /** The pipeline run it belongs to; null for a step run on its own (`trellis pipelines step`). */
  pipelineRunId: string | null;
  experimentId: string;
  step: string;
  /** `name@version` of its component. */
  component: string;
  status: StepRunStatus;
  /** 1 for the first run of the step in its pipeline run, 2 when a resume ran it again, … */
  attempt: number;
  cacheKey: string | null;
  /** What went into the cache key (component, scalars, artifact hashes, facts), for `pipelines why`. */
  keyParts: Record<string, unknown> | null;
  /** Null until the step finished (and for old step runs that never recorded theirs). */
  outputs: Record<string, StepOutputRecord> | null;
  metrics: Record<string, number>;
  cached: boolean;
  /** For a cache hit: the step run whose outputs were reused. */
  cacheSource: string | null;
  error: string | null;
  cancelRequested: boolean;
  createdBy: string;
  startTime: number;
  endTime: number | null;
  mlflowRunId: string;
}

/**
 * One lineage edge of a step run: something it consumed (`input`) or produced (`output`).
 * - `step`: an output of another step run (`ref` its id, `output` the output's name, `holder` the
 *   run holding the bytes), read as the input `name`;
 * - `dataset`: a dataset version, `ref` = `name@version`;
 * - `model`: a model version, `ref` = `name/version` (a register step's output: the version it
 *   registered or pointed its alias at again);
 * - `file`: a file outside the store, `ref` its path;
 * - `artifact`: an output the step produced, `ref` the run holding its bytes.
 */
export interface StepEdge {
  role: 'input' | 'output';
  name: string;
  kind: 'step' | 'dataset' | 'model' | 'file' | 'artifact';
  ref: string;
  output?: string;
  holder?: string;
  sha256?: string;
}

export interface StepEdgeRecord extends StepEdge {
  stepRunId: string;
}

export interface StartStepRunInput {
  /** The id of the MLflow run that mirrors it. */
  id: string;
  pipelineRunId: string | null;
  experimentId: string;
  step: string;
  component: string;
  cacheKey?: string;
  keyParts?: Record<string, unknown>;
  /** What the step consumes, as far as it is known before it runs. */
  edges?: StepEdge[];
  startTime?: number;
}

/** A step served from cache: recorded FINISHED at once, with the source's outputs. */
export interface CachedStepRunInput extends StartStepRunInput {
  cacheKey: string;
  cacheSource: string;
  outputs: Record<string, StepOutputRecord>;
  metrics: Record<string, number>;
}

/** Whoever holds a step's lease, and the epoch it was claimed at: what a holder's writes are fenced by. */
export interface LeaseFence {
  owner: string;
  epoch: number;
}

export interface FinishStepRunInput {
  outputs: Record<string, StepOutputRecord>;
  metrics: Record<string, number>;
  /** What the step consumed and produced that is known once it ran. */
  edges?: StepEdge[];
  fence?: LeaseFence;
}

export interface FailStepRunInput {
  status: 'FAILED' | 'KILLED';
  error: string;
  fence?: LeaseFence;
}

export interface StepLease {
  stepRunId: string;
  owner: string;
  epoch: number;
  acquiredAt: number;
  heartbeatAt: number;
  expiresAt: number;
  /** How many times the step was claimed (deliveries of its job). */
  deliveries: number;
}

/**
 * What a claim found: the lease (`claimed`, or `taken-over` from a holder whose lease expired),
 * another owner's live lease (`held`), or a step that is no longer RUNNING (`ended`).
 */
export type StepClaim =
  | { outcome: 'claimed' | 'taken-over' | 'held'; lease: StepLease; stepRun: StepRunRecord }
  | { outcome: 'ended'; stepRun: StepRunRecord };

export interface ListStepRunsQuery {
  pipelineRunId?: string;
  experimentId?: string;
  step?: string;
  /** Cache hits served from this step run. */
  cacheSource?: string;
  ids?: string[];
  /** Newest first by default. */
  oldestFirst?: boolean;
}

export interface ListStepEdgesQuery {
  stepRunIds?: string[];
  role?: 'input' | 'output';
  kind?: StepEdge['kind'];
  ref?: string;
  holder?: string;
  sha256?: string;
  name?: string;
}

export interface ListPipelineRunsQuery {
  pipeline?: string;
  status?: PipelineRunStatus;
  /** Runs kept in this experiment only. */
  experimentId?: string;
  /** Runs that ended after this time (ms) only. */
  endedAfter?: number;
  edgesComplete?: boolean;
  /** `started` (the default): newest started first; `ended`: last ended first. */
  order?: 'started' | 'ended';
  /** At most this many (1 to 100,000; 1,000 by default). */
  limit?: number;
}

export interface PipelineRunStore {
  // ------------------------------------------------------------------ pipeline runs
  /** Records a pipeline run RUNNING, its runner at epoch 1 (audited `start_pipeline_run`). */
  createPipelineRun(input: CreatePipelineRunInput, who: Actor): Promise<PipelineRunRecord>;
  /** TRELLIS_PIPELINE_RUN_NOT_FOUND when there is none. */
  getPipelineRun(id: string): Promise<PipelineRunRecord>;
  /** Newest started first, or with `order: 'ended'` last ended first (runs still running after those that ended). */
  listPipelineRuns(q?: ListPipelineRunsQuery): Promise<PipelineRunRecord[]>;
  /**
   * Ends a RUNNING run (audited `end_pipeline_run`); undefined when it had ended already or, with
   * `epoch`, when another runner resumed it meanwhile.
   */
  endPipelineRun(id: string, end: EndPipelineRunInput, who: Actor): Promise<PipelineRunRecord | undefined>;
  /**
   * Makes this process the run's runner, RUNNING again, by compare-and-set on the runner epoch it
   * read (audited `resume_pipeline_run`); undefined when another runner resumed it first.
   */
  resumePipelineRun(id: string, o: { runner: { host: string; pid: number }; expectEpoch: number }, who: Actor): Promise<PipelineRunRecord | undefined>;
  /** The runner's sign of life (not audited); false when the run is no longer this runner's (ended or resumed elsewhere). */
  touchPipelineRun(id: string, epoch: number): Promise<boolean>;

  // ------------------------------------------------------------------ step runs
  /** Records a step run RUNNING with what it consumes (audited `start_step_run`). */
  startStepRun(input: StartStepRunInput, who: Actor): Promise<StepRunRecord>;
  /** Records a cache hit, FINISHED at once (audited `cache_hit_step_run`). */
  recordCachedStepRun(input: CachedStepRunInput, who: Actor): Promise<StepRunRecord>;
  /**
   * Records a RUNNING step FINISHED with its outputs (audited `finish_step_run`); undefined when it
   * is no longer RUNNING, or `fence` no longer holds its lease.
   */
  finishStepRun(id: string, input: FinishStepRunInput, who: Actor): Promise<StepRunRecord | undefined>;
  /** Records a RUNNING step FAILED or KILLED (audited `fail_step_run`); undefined as for {@link finishStepRun}. */
  failStepRun(id: string, input: FailStepRunInput, who: Actor): Promise<StepRunRecord | undefined>;
  /** Asks whoever executes a RUNNING step to stop (audited `cancel_step_run`); false when it had ended. */
  requestStepCancel(id: string, who: Actor): Promise<boolean>;
  /** TRELLIS_STEP_RUN_NOT_FOUND when there is none. */
  getStepRun(id: string): Promise<StepRunRecord>;
  /** Newest first (by start time) unless `oldestFirst`. */
  listStepRuns(q: ListStepRunsQuery): Promise<StepRunRecord[]>;
  /**
   * The newest FINISHED step run that executed (not a cache hit) with this key in the experiment,
   * started at `notBefore` or later: one indexed query.
   */
  findCacheEntry(experimentId: string, cacheKey: string, o?: { notBefore?: number }): Promise<StepRunRecord | undefined>;

  // ------------------------------------------------------------------ lineage edges
  listStepEdges(q: ListStepEdgesQuery): Promise<StepEdgeRecord[]>;
  /**
   * Fills in the IR-dependent edges of a run converted from an older store and marks it complete:
   * the second half of that conversion, done by whoever can read the artifact store. Not audited
   * (no state changes, as in a schema migration); edges already there are kept.
   */
  completePipelineRunEdges(id: string, edges: StepEdgeRecord[]): Promise<void>;

  // ------------------------------------------------------------------ step leases
  /**
   * Claims a RUNNING step for `owner` by compare-and-set: `claimed` when nobody held it (or
   * `owner` did), `taken-over` when its holder's lease had expired (both audited), `held` when
   * another owner's lease is live, `ended` when the step is no longer RUNNING.
   */
  claimStepLease(stepRunId: string, o: { owner: string; ttlMs: number }, who: Actor): Promise<StepClaim>;
  /**
   * The holder's sign of life (not audited): extends the lease by `ttlMs`. `held` is false when the
   * lease was taken over or the step ended; `cancelRequested` when someone asked the step to stop.
   */
  touchStepLease(stepRunId: string, fence: LeaseFence, ttlMs: number): Promise<{ held: boolean; cancelRequested: boolean }>;
  /** The step's lease; an ended step keeps its last one, the record of who executed it and how often it was delivered. */
  getStepLease(stepRunId: string): Promise<StepLease | undefined>;
}
