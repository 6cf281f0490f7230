/**
 * Pipelines as the API and the CLI reach them: deployed versions and their trigger records, and
 * the engines that run them — a runner (steps here, or on workers behind the workspace's queue),
 * the scheduler, a queue worker, a single step, cache explanations and lineage. The engines keep
 * their own ports; callers get them from here, put together in one place, and never hold a store.
 * Engine modules are imported when first used, so a command that only lists records loads none.
 */
import { invalid } from '../core/errors.js';
import type { CacheExplanation } from '../pipelines/engine/why.js';
import type { EngineOptions, EngineServices, PipelineEngine } from '../pipelines/engine/engine.js';
import type { StandaloneStep } from '../pipelines/engine/standalone.js';
import type { StepRecord } from '../pipelines/engine/step-exec.js';
import type { PipelinePackage } from '../pipelines/package.js';
import type { StepWorker, StepWorkerOptions } from '../pipelines/queue/redis-queue.js';
import type { Scheduler, SchedulerOptions } from '../pipelines/triggers/scheduler.js';
import type { LineageGraph, LineageRef, LineageSources } from '../registry/lineage.js';
import type { Actor } from '../store/ports/common.js';
import type { DeploymentChange, PipelineDeployment, PipelineStore, PipelineVersion } from '../store/ports/pipelines.js';
import type { ListTriggersQuery, TriggerRecord, TriggerStore } from '../store/ports/triggers.js';

export interface PipelineServiceOptions {
  /** `inline` or `redis://…`: where a runner sends steps unless told otherwise. */
  queueUri: string;
  storeUri: string;
  artifactsUri: string;
  /** Where deployed packages are unpacked for the scheduler. */
  cacheDir: string;
}

export interface OpenedEngine {
  engine: PipelineEngine;
  /** Releases the queue connection, if any. */
  close(): Promise<void>;
}

export class PipelineService {
  constructor(
    private readonly services: () => EngineServices,
    /** The pipeline and trigger records, and the ports lineage reads besides them. */
    private readonly records: { pipelines: PipelineStore; triggers: TriggerStore } & Pick<LineageSources, 'tracking' | 'registry' | 'datasets'>,
    private readonly o: PipelineServiceOptions,
  ) {}

  /** Verifies a package and records it as the pipeline's next version (or finds the same one). */
  async publish(pkg: unknown, who: Actor): Promise<{ version: PipelineVersion; created: boolean; package: PipelinePackage }> {
    const { publishPackage } = await import('../pipelines/triggers/deployments.js');
    return publishPackage(this.services(), pkg, who);
  }

  /** Where deployed pipelines' packages are unpacked to run (`$TRELLIS_HOME/packages`). */
  get packageDir(): string {
    return this.o.cacheDir;
  }

  /** Oldest first. */
  versions(name: string): Promise<PipelineVersion[]> {
    return this.records.pipelines.listPipelineVersions(name);
  }

  /** Every pipeline with a version, each as its latest version. */
  list(): Promise<PipelineVersion[]> {
    return this.records.pipelines.listPipelines();
  }

  /** How the pipeline is deployed: the version its triggers run, whether they fire. */
  deployment(name: string): Promise<PipelineDeployment> {
    return this.records.pipelines.getPipelineDeployment(name);
  }

  /** Every deployed pipeline's deployment, by name. */
  deployments(): Promise<PipelineDeployment[]> {
    return this.records.pipelines.listPipelineDeployments();
  }

  /** Pauses or resumes its triggers, undeploys it (or one version), or rolls it back to a version; audited. */
  changeDeployment(name: string, change: DeploymentChange, who: Actor): Promise<PipelineDeployment> {
    return this.records.pipelines.changePipelineDeployment(name, change, who);
  }

  /** An `api` trigger record for the pipeline's active version, its parameters checked. */
  async requestTrigger(req: { pipeline: string; params?: Record<string, unknown>; reason?: string; dedupeKey?: string }, who: Actor): Promise<{ trigger: TriggerRecord; created: boolean }> {
    const { requestTrigger } = await import('../pipelines/triggers/deployments.js');
    return requestTrigger(this.services(), req, who);
  }

  /**
   * Whether the version that runs when `name` is triggered (its active one, or `version`) has
   * components that run user code (commands, TypeScript) rather than built-ins only: deploying or
   * triggering those takes the pipeline-deployer role.
   */
  async carriesUserCode(name: string, version?: number): Promise<boolean> {
    const { activeVersion, fetchPackage } = await import('../pipelines/triggers/deployments.js');
    const v = version === undefined ? (await activeVersion(this.services(), name)).version : await this.records.pipelines.getPipelineVersion(name, version);
    return packageCarriesUserCode(await fetchPackage(this.services(), v));
  }

  triggers(q: ListTriggersQuery = {}): Promise<TriggerRecord[]> {
    return this.records.triggers.listTriggers(q);
  }

  trigger(id: number): Promise<TriggerRecord> {
    return this.records.triggers.getTrigger(id);
  }

  /**
   * A pipeline runner: steps run in this process, or on `trellis worker` processes behind a
   * `redis://` queue (the workspace's, unless `queue` names another; `inline` forces this process).
   */
  async openEngine(who: Actor, o: { queue?: string; concurrency?: number } & Omit<EngineOptions, 'who' | 'dispatcher'> = {}): Promise<OpenedEngine> {
    const { queue = this.o.queueUri, ...options } = o;
    const { PipelineEngine } = await import('../pipelines/engine/engine.js');
    const s = this.services();
    if (queue === 'inline') return { engine: new PipelineEngine(s, { ...options, who }), close: async () => undefined };
    const { RedisDispatcher } = await import('../pipelines/queue/redis-queue.js');
    const dispatcher = await RedisDispatcher.open(s, who, { url: queue });
    // With workers, the bound on steps at once is theirs; the runner only keeps enough in the queue.
    return { engine: new PipelineEngine(s, { ...options, concurrency: options.concurrency ?? 16, who, dispatcher }), close: () => dispatcher.close() };
  }

  /** The scheduler over this workspace (its runs' steps on the workspace's queue unless `queue` says otherwise). */
  async openScheduler(o: Omit<SchedulerOptions, 'engine'> & { queue?: string } = {}): Promise<{ scheduler: Scheduler; close: () => Promise<void> }> {
    const { queue = this.o.queueUri, ...options } = o;
    const { Scheduler } = await import('../pipelines/triggers/scheduler.js');
    const s = this.services();
    const who = options.who ?? { actor: 'trellis' };
    let engine: SchedulerOptions['engine'] = {};
    let close = async (): Promise<void> => undefined;
    if (queue !== 'inline') {
      const { RedisDispatcher } = await import('../pipelines/queue/redis-queue.js');
      const dispatcher = await RedisDispatcher.open(s, who, { url: queue });
      engine = { dispatcher, concurrency: 16 };
      close = () => dispatcher.close();
    }
    return { scheduler: new Scheduler(s, { ...options, cacheDir: options.cacheDir ?? this.o.cacheDir, who, engine }), close };
  }

  /** A worker taking steps from a `redis://` queue; its steps execute in threads on this workspace's stores. */
  async startWorker(who: Actor, o: Omit<StepWorkerOptions, 'url' | 'stores'> & { queue?: string }): Promise<StepWorker> {
    const { queue = this.o.queueUri, ...options } = o;
    if (queue === 'inline') throw invalid('A worker takes steps from a queue: give --queue redis://host:port[/db]');
    const { StepWorker } = await import('../pipelines/queue/redis-queue.js');
    return StepWorker.start(this.services(), who, { ...options, url: queue, stores: { store: this.o.storeUri, artifacts: this.o.artifactsUri } });
  }

  /** Runs one step on its own, tracked in the store (the entry point of exported Argo containers). */
  async runStep(who: Actor, o: StandaloneStep): Promise<{ runId: string; record: StepRecord }> {
    const { runStandaloneStep } = await import('../pipelines/engine/standalone.js');
    return runStandaloneStep(this.services(), who, o);
  }

  /** Why a step of a pipeline run was or was not taken from the cache. */
  async explainCache(pipelineRunId: string, step: string): Promise<CacheExplanation> {
    const { explainCache } = await import('../pipelines/engine/why.js');
    return explainCache(this.records.pipelines, pipelineRunId, step);
  }

  /** Where a model version or a dataset version came from, and what came of it. */
  async lineage(ref: string | LineageRef, opts: { depth?: number } = {}): Promise<LineageGraph> {
    const { lineageOf } = await import('../registry/lineage.js');
    const { tracking, registry, datasets, pipelines } = this.records;
    return lineageOf({ tracking, registry, datasets, pipelines, artifacts: this.services().artifacts }, ref, opts);
  }
}

/** Whether a package's components include any that is not a built-in (a command or TypeScript: user code). */
export function packageCarriesUserCode(pkg: unknown): boolean {
  const components = (pkg as { ir?: { components?: unknown } } | null)?.ir?.components;
  if (!Array.isArray(components)) return false;
  return components.some((c) => (c as { kind?: unknown } | null)?.kind !== 'builtin');
}
