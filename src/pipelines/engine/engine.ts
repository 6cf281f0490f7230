/**
 * The local pipeline engine: runs a `trellis.pipeline/v1` IR end to end on this machine.
 *
 * Durable state is the pipeline records (`PipelineRunStore`): a pipeline run, and a step run per
 * step with its cache key and the parts of it, its outputs (type, sha256, the run holding the
 * bytes), metrics and lineage edges. They are the truth the cache, resume, `pipelines why` and
 * lineage read. Each is mirrored as an MLflow run with the same id, so that MLflow clients see
 * them as they always did:
 * - a pipeline run is a tracking run in the experiment named after the pipeline, tagged
 *   `trellis.pipeline`, `trellis.pipeline.hash`, with the pipeline parameters as params and the IR
 *   as its artifact `pipeline.json`;
 * - each step is a child run (`mlflow.parentRunId`, `trellis.step`, `trellis.component`,
 *   `trellis.cache_key`) with the step's scalar inputs as params, its metrics, its log
 *   (`logs/<step>.log`) and its outputs as artifacts under `outputs/<name>`; the tag
 *   `trellis.outputs` lists each output's type, sha256 and the run holding its bytes.
 *   FINISHED when done; FAILED with the error in `trellis.error`.
 *
 * The runner says it is alive with an unaudited touch of its pipeline run; a resume takes the run
 * over by compare-and-set, so two runners never both resume it, and a runner that was taken for
 * dead and replaced stops at its next touch.
 *
 * Steps run in topological order, independent ones in parallel (at most `concurrency` at once);
 * a failed step skips everything downstream of it while independent branches finish.
 *
 * Caching: a step's key is the sha256 of its component (name, version, definition, module file
 * hash), its resolved scalar inputs, the values of the pipeline parameters a command reads through
 * `{params.NAME}`, the sha256 of each artifact input, and facts that built-ins
 * depend on outside their inputs (the dataset version `@latest` names now, the champion version a
 * gate compares with). A FINISHED, non-cached step run with the same key in the same experiment
 * (younger than `ttlSeconds` when set) is reused — one indexed query — and the new step run is
 * recorded as a hit of its source, its outputs pointing at the source's bytes. A cache hit of
 * `register` is not a skipped side effect: the recorded registration is re-applied (the version is
 * found by its source run — never created twice — and the alias is pointed at it again).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { TrellisError, invalid } from '../../core/errors.js';
import { canonicalJson, sha256Hex } from '../../core/hash.js';
import { newRunId } from '../../core/ids.js';
import { processGone } from '../../core/processes.js';
import type { Actor } from '../../store/ports/common.js';
import type { PipelineRunner, StepEdge, StepRunRecord } from '../../store/ports/pipelines.js';
import { componentsFor, isOutputRef, isParamRef, normalizePipeline, pipelineHash, topologicalOrder, upstreamSteps, validatePipeline, type CommandComponent, type ComponentDef, type PipelineIR, type Scalar, type Step } from '../ir.js';
import { hasErrors, lintPipeline } from '../lint.js';
import { commandTexts, PLACEHOLDER } from '../lint/placeholder.js';
import { builtinCacheFacts, registerModel } from './builtins/index.js';
import { reproducibilityTags } from './reproducibility.js';
import { hashFile, prewarmWorkers, type RunAs } from '../executors/index.js';
import { championEdge, inputEdge, ingestEdges, registrationEdge } from './edges.js';
import { clip, componentSpec, errorText, executeStepJob, recordFailure, type EngineServices, type OutputEntry, type StepJob, type StepRecord } from './step-exec.js';

export type { EngineServices, OutputEntry, StepJob, StepRecord } from './step-exec.js';

export const ENGINE_VERSION = '1';

/** A run's step folder: `<run id>-<start time in ms>`. */
const WORK_DIR = /^([0-9a-f]{32})-\d+$/;
/** Runs looked up per sweep, so that a crowded temp folder does not hold a run's start. */
const MAX_SWEPT_RUNS = 50;
/** The file that marks a step folder kept on purpose (`keepWorkDir`). */
const KEEP_MARK = '.trellis-keep';


export interface EngineOptions {
  who: Actor;
  /** Steps running at once (default 2). */
  concurrency?: number;
  /** Where steps write their files (default: a folder under the system temp dir); removed after the run. */
  workDir?: string;
  /** Keep the step files after the run (for debugging). */
  keepWorkDir?: boolean;
  /** How often the runner marks its pipeline run as alive (default 5000 ms). */
  runnerHeartbeatMs?: number;
  /** A RUNNING pipeline run whose runner has been silent this long may be resumed (default 30000 ms). */
  runnerLeaseMs?: number;
  /** Where steps execute: in this process (the default) or on workers behind a queue (see queue/). */
  dispatcher?: StepDispatcher;
}

/**
 * Executes step jobs somewhere and resolves with what the step run recorded. The engine schedules,
 * caches and records; a dispatcher only decides where the work happens.
 */
export interface StepDispatcher {
  execute(job: StepJob, ctx: { workRoot: string; signal?: AbortSignal }): Promise<StepRecord>;
  /** Asks a step already executing elsewhere to stop (used when a run is cancelled or resumed). */
  cancel?(stepRunId: string): Promise<void>;
}

/** Runs each step in this process: built-ins in the engine's thread, custom components through the executors. */
export function localDispatcher(s: EngineServices, who: Actor): StepDispatcher {
  return { execute: (job, ctx) => executeStepJob(s, job, { who, workRoot: ctx.workRoot, signal: ctx.signal }) };
}

/** A step that ended FAILED, KILLED or otherwise not FINISHED: its run already says why. */
class StepEnded extends Error {}

export type StepStatus = 'running' | 'done' | 'cached' | 'kept' | 'failed' | 'skipped';

export interface StepEvent {
  step: string;
  status: StepStatus;
  durationMs?: number;
  error?: string;
}

export interface RunOptions {
  params?: Record<string, Scalar>;
  /** Experiment to record the run in (default: the pipeline's name). */
  experiment?: string;
  /** Run every step, whatever the cache holds. */
  noCache?: boolean;
  /** The folder of the pipeline file: relative module paths and command workdirs are resolved from it. */
  baseDir?: string;
  onEvent?: (e: StepEvent) => void;
  /** Cancels the run: no new step starts, running ones are stopped, the run ends KILLED. */
  signal?: AbortSignal;
  /**
   * Folders the built-ins may read files from (a deployed pipeline: its package's folder and the
   * data roots the administrator configured); a file elsewhere is refused. Unset: any file.
   */
  dataRoots?: string[];
  /**
   * A deployed pipeline's runs (with `dataRoots`): who its code runs as where the step executes as
   * root — unless the executing process names its own (a worker's `--run-as`); unset, `nobody`.
   */
  runAs?: RunAs;
}

export interface StepOutcome {
  step: string;
  status: Exclude<StepStatus, 'running'>;
  runId?: string;
  cached: boolean;
  cacheSource?: string;
  cacheKey?: string;
  durationMs: number;
  outputs: Record<string, OutputEntry>;
  metrics: Record<string, number>;
  error?: string;
  /** register steps: what was registered (or reused). */
  registration?: Registration;
}

export interface PipelineRunResult {
  runId: string;
  experimentId: string;
  pipeline: string;
  status: 'FINISHED' | 'FAILED' | 'KILLED';
  steps: StepOutcome[];
  registered: { step: string; name: string; version: string; alias: string | null; created: boolean }[];
  durationMs: number;
  failed?: { step: string; error: string };
}

const TAG = {
  pipeline: 'trellis.pipeline',
  hash: 'trellis.pipeline.hash',
  params: 'trellis.pipeline.params',
  baseDir: 'trellis.pipeline.dir',
  parent: 'mlflow.parentRunId',
  runName: 'mlflow.runName',
  step: 'trellis.step',
  component: 'trellis.component',
  key: 'trellis.cache_key',
  keyParts: 'trellis.cache_key_parts',
  cached: 'trellis.cached',
  source: 'trellis.cache_source',
  /** On a step run that executed (not served from cache): its cache key, so that the cache finds it among any number of cached runs. */
  entry: 'trellis.cache_entry',
  outputs: 'trellis.outputs',
  error: 'trellis.error',
  failedStep: 'trellis.failed_step',
  skipped: 'trellis.skipped',
} as const;

const now = () => Date.now();

export class PipelineEngine {
  private readonly dispatcher: StepDispatcher;

  constructor(readonly s: EngineServices, readonly o: EngineOptions) {
    this.dispatcher = o.dispatcher ?? localDispatcher(s, o.who);
  }

  /** Runs a pipeline; resolves with the outcome of every step (a failed run resolves too, with status FAILED). */
  async run(input: PipelineIR, opts: RunOptions = {}): Promise<PipelineRunResult> {
    const ir = normalizePipeline(validatePipeline(input, input.name ?? 'pipeline'));
    const params = resolveParams(ir, opts.params ?? {});
    const findings = lintPipeline(ir, { params });
    if (hasErrors(findings)) {
      const msgs = findings.filter((f) => f.severity === 'error').map((f) => f.message);
      throw new TrellisError('TRELLIS_PIPELINE_INVALID', { source: ir.name, detail: msgs.length === 1 ? msgs[0]! : `\n  ${msgs.join('\n  ')}` });
    }
    topologicalOrder(ir);
    const experimentId = await this.experiment(opts.experiment ?? ir.name);
    const baseDir = resolve(opts.baseDir ?? process.cwd());
    const tags: Record<string, string> = {
      [TAG.pipeline]: ir.name, [TAG.hash]: pipelineHash(ir), [TAG.params]: clip(JSON.stringify(params)), [TAG.baseDir]: clip(baseDir),
      'trellis.pipeline.version': ir.version, ...(opts.noCache ? { 'trellis.no_cache': 'true' } : {}),
      ...reproducibilityTags(baseDir, ENGINE_VERSION),
      ...runnerTags(),
    };
    const parent = await this.s.tracking.createRun({ experimentId, runName: `${ir.name}-run`, tags }, this.o.who);
    const runId = parent.info.runId;
    await this.s.tracking.logBatch(runId, { params: Object.entries(params).map(([key, v]) => ({ key, value: String(v) })) }, this.o.who);
    await this.s.tracking.logArtifact(runId, 'pipeline.json', JSON.stringify(ir, null, 2));
    const rec = await this.s.pipelines.createPipelineRun({
      id: runId, pipeline: ir.name, pipelineVersion: ir.version, irHash: tags[TAG.hash]!, experimentId, params, baseDir, noCache: !!opts.noCache,
      runner: { host: hostname(), pid: process.pid }, startTime: parent.info.startTime,
    }, this.o.who);
    return this.execute(ir, {
      runId, experimentId, params, baseDir, noCache: !!opts.noCache, epoch: rec.runner.epoch, onEvent: opts.onEvent, signal: opts.signal, kept: new Map(),
      ...(opts.dataRoots ? { dataRoots: opts.dataRoots } : {}),
      ...(opts.runAs ? { runAs: opts.runAs } : {}),
    });
  }

  /**
   * Re-runs what did not finish in an earlier pipeline run: steps that FINISHED are kept, steps left
   * RUNNING by a runner that died are stopped and recorded KILLED. The run is taken over by
   * compare-and-set on its runner epoch: of two resumes at once, one fails.
   */
  async resume(runId: string, opts: Pick<RunOptions, 'onEvent' | 'noCache' | 'signal'> = {}): Promise<PipelineRunResult> {
    const runs = this.s.pipelines;
    const rec = await runs.getPipelineRun(runId).catch(async (e: unknown) => {
      if ((e as { code?: string }).code !== 'TRELLIS_PIPELINE_RUN_NOT_FOUND') throw e;
      await this.s.tracking.getRun(runId); // an unknown id is reported as such
      throw invalid(`run ${runId} is not a pipeline run (it has no pipeline run record)`);
    });
    if (rec.status === 'RUNNING') {
      const alive = runnerAlive(rec.runner, this.o.runnerLeaseMs ?? RUNNER_LEASE_MS);
      if (alive) throw invalid(`pipeline run ${runId} is still RUNNING: ${alive}; resume a run whose runner has stopped`);
    }
    const ir = normalizePipeline(validatePipeline(JSON.parse((await this.s.tracking.readArtifact(runId, 'pipeline.json')).toString('utf8')), `run ${runId}`));
    const taken = await runs.resumePipelineRun(runId, { runner: { host: hostname(), pid: process.pid }, expectEpoch: rec.runner.epoch }, this.o.who);
    if (!taken) throw invalid(`pipeline run ${runId} was resumed by another runner meanwhile`);
    const kept = new Map<string, StepOutcome>();
    const records = await runs.listStepRuns({ pipelineRunId: runId });
    // A runner killed after it opened a step's MLflow run and before it wrote the step's record
    // left that run RUNNING with nothing to say it belongs to a step: it is closed KILLED too.
    const recorded = new Set(records.map((r) => r.id));
    const open = await this.s.tracking.searchRuns({ experimentIds: [rec.experimentId], filter: `tags.mlflow.parentRunId = '${runId}' and attributes.status = 'RUNNING'`, maxResults: 1000 });
    for (const orphan of open.items.filter((r) => !recorded.has(r.info.runId))) {
      await recordFailure(this.s, this.o.who, orphan.info.runId, `the pipeline runner stopped before this step was recorded; run ${runId} was resumed`, { status: 'KILLED' });
    }
    for (const listed of records) {
      let st = listed;
      if (st.status === 'RUNNING') {
        // Left behind by a runner that died. A worker that still holds its lease is executing it:
        // the step is adopted, its end awaited. Else it is stopped wherever it may still execute, and closed.
        if (kept.has(st.step)) continue;
        opts.onEvent?.({ step: st.step, status: 'running' });
        st = await this.adopt(st.id);
        if (st.status === 'RUNNING') {
          await this.dispatcher.cancel?.(st.id);
          await recordFailure(this.s, this.o.who, st.id, `the pipeline runner stopped before this step ended; run ${runId} was resumed`, { status: 'KILLED' });
          continue;
        }
      }
      if (st.status !== 'FINISHED' || kept.has(st.step)) continue;
      kept.set(st.step, {
        step: st.step, status: 'kept', runId: st.id, cached: st.cached, ...(st.cacheKey ? { cacheKey: st.cacheKey } : {}),
        durationMs: 0, outputs: st.outputs ?? {}, metrics: st.metrics,
      });
    }
    await this.s.tracking.updateRun(runId, { status: 'RUNNING' }, this.o.who);
    await this.s.tracking.logBatch(runId, { tags: [{ key: 'trellis.resumed', value: String(now()) }, ...Object.entries(runnerTags()).map(([key, value]) => ({ key, value }))] }, this.o.who);
    return this.execute(ir, {
      runId, experimentId: rec.experimentId, params: rec.params, baseDir: rec.baseDir || process.cwd(),
      noCache: !!opts.noCache || rec.noCache, epoch: taken.runner.epoch, onEvent: opts.onEvent, signal: opts.signal, kept,
    });
  }

  /**
   * Waits while a worker's live lease says it is executing the step run, and answers the record as
   * it then is: ended by that worker, or still RUNNING once no live lease holds it (no worker ever
   * took it, or the one that did is gone).
   */
  private async adopt(stepRunId: string): Promise<StepRunRecord> {
    const runs = this.s.pipelines;
    for (;;) {
      const [rec, lease] = await Promise.all([runs.getStepRun(stepRunId), runs.getStepLease(stepRunId)]);
      if (rec.status !== 'RUNNING' || !lease || lease.expiresAt <= Date.now()) return rec;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async experiment(name: string): Promise<string> {
    return this.s.tracking.getExperimentByName(name).then((e) => e.experimentId, (e: unknown) => {
      if ((e as { code?: string }).code !== 'TRELLIS_EXPERIMENT_NAME_NOT_FOUND') throw e;
      return this.s.tracking.createExperiment(name, {}, this.o.who);
    });
  }

  /**
   * Removes the step folders that runs killed outright (SIGKILL, a power cut) left under `root`:
   * only those of runs this store knows to have ended, or whose runner was a process of this host
   * that no longer exists (a resume starts a folder of its own). A folder of a run whose runner may
   * be alive, of the run starting now, of a run this store does not know (another workspace's), or
   * one kept on purpose (`keepWorkDir`) is left alone.
   */
  private async sweepEndedRunDirs(root: string, current: string): Promise<void> {
    const names = await readdir(root).catch(() => [] as string[]);
    const byRun = new Map<string, string[]>();
    for (const name of names) {
      const m = WORK_DIR.exec(name);
      if (!m || m[1] === current) continue;
      byRun.set(m[1]!, [...(byRun.get(m[1]!) ?? []), name]);
    }
    for (const [runId, dirs] of [...byRun].slice(0, MAX_SWEPT_RUNS)) {
      const run = await this.s.pipelines.getPipelineRun(runId).catch(() => undefined);
      if (!run || (run.status === 'RUNNING' && !runnerGone(run.runner))) continue;
      for (const dir of dirs) {
        if (!existsSync(join(root, dir, KEEP_MARK))) await rm(join(root, dir), { recursive: true, force: true }).catch(() => undefined);
      }
    }
  }

  private async execute(ir: PipelineIR, given: {
    runId: string; experimentId: string; params: Record<string, Scalar>; baseDir: string; noCache: boolean; epoch: number;
    onEvent?: (e: StepEvent) => void; signal?: AbortSignal; kept: Map<string, StepOutcome>; dataRoots?: string[]; runAs?: RunAs;
  }): Promise<PipelineRunResult> {
    // Cancelled by the caller, or replaced: another runner resumed this run while this one was taken for dead.
    const replaced = new AbortController();
    const r = { ...given, signal: given.signal ? AbortSignal.any([given.signal, replaced.signal]) : replaced.signal };
    const started = now();
    const root = resolve(this.o.workDir ?? join(tmpdir(), 'trellis-pipelines'));
    const work = join(root, `${r.runId}-${started}`);
    if (!this.o.keepWorkDir) await this.sweepEndedRunDirs(root, r.runId);
    await mkdir(work, { recursive: true });
    // Kept on purpose: no later run's sweep takes it.
    if (this.o.keepWorkDir) await writeFile(join(work, KEEP_MARK), '');
    const order = topologicalOrder(ir);
    const byName = new Map(ir.steps.map((s) => [s.name, s]));
    const done = new Map<string, StepOutcome>(r.kept);
    for (const name of order) if (r.kept.has(name)) r.onEvent?.({ step: name, status: 'kept' });
    const running = new Map<string, Promise<void>>();
    const limit = Math.max(1, this.o.concurrency ?? 2);
    // Warm the TypeScript worker threads while the first steps compute their cache keys.
    if (!this.o.dispatcher) {
      const modules = ir.components.filter((c) => c.kind === 'typescript').map((c) => componentSpec(c, r.baseDir).module).filter((m): m is string => typeof m === 'string');
      if (modules.length) void prewarmWorkers(limit, modules).catch(() => undefined);
    }
    // A cancel wakes the loop, so that steps not started yet are settled at once.
    const abortWait = new Promise<void>((res) => {
      if (r.signal.aborted) res();
      else r.signal.addEventListener('abort', () => res(), { once: true });
    });
    const ctx = { ...r, work, ir, signal: r.signal };
    // The runner's sign of life (not audited), so that `resume` can tell a run in progress from one whose runner died.
    const beat = setInterval(() => {
      void this.s.pipelines.touchPipelineRun(r.runId, r.epoch).then((mine) => { if (!mine) replaced.abort(); }, () => undefined);
    }, this.o.runnerHeartbeatMs ?? RUNNER_HEARTBEAT_MS);
    beat.unref();
    try {
      for (;;) {
        for (const name of order) {
          if (done.has(name) || running.has(name)) continue;
          const step = byName.get(name)!;
          const ups = upstreamSteps(step);
          if (!ups.every((u) => done.has(u))) continue;
          if (r.signal?.aborted) {
            done.set(name, { step: name, status: 'skipped', cached: false, durationMs: 0, outputs: {}, metrics: {}, error: 'the run was cancelled' });
            r.onEvent?.({ step: name, status: 'skipped' });
            continue;
          }
          const bad = ups.find((u) => ['failed', 'skipped'].includes(done.get(u)!.status));
          if (bad) {
            done.set(name, { step: name, status: 'skipped', cached: false, durationMs: 0, outputs: {}, metrics: {}, error: `upstream step '${bad}' ${done.get(bad)!.status === 'failed' ? 'failed' : 'was skipped'}` });
            r.onEvent?.({ step: name, status: 'skipped' });
            continue;
          }
          if (running.size >= limit) continue;
          r.onEvent?.({ step: name, status: 'running' });
          running.set(name, this.runOne(step, done, ctx).then((out) => {
            done.set(name, out);
            running.delete(name);
            r.onEvent?.({ step: name, status: out.status, durationMs: out.durationMs, error: out.error });
          }));
        }
        if (!running.size) {
          if (order.every((n) => done.has(n))) break;
          continue; // skipped steps may have unblocked others; the loop above settles them
        }
        await Promise.race([...running.values(), ...(!r.signal.aborted ? [abortWait] : [])]);
      }
    } finally {
      clearInterval(beat);
      await Promise.allSettled(running.values());
      if (!this.o.keepWorkDir) await rm(work, { recursive: true, force: true }).catch(() => undefined);
    }
    const steps = order.map((n) => done.get(n)!);
    const failedStep = steps.find((s) => s.status === 'failed');
    const skipped = steps.filter((s) => s.status === 'skipped').map((s) => s.step);
    const endTags = [
      ...(failedStep ? [{ key: TAG.failedStep, value: failedStep.step }, { key: TAG.error, value: clip(failedStep.error ?? '') }] : []),
      ...(skipped.length ? [{ key: TAG.skipped, value: clip(skipped.join(',')) }] : []),
    ];
    const status = r.signal.aborted ? 'KILLED' : failedStep ? 'FAILED' : 'FINISHED';
    const ended = await this.s.pipelines.endPipelineRun(r.runId, {
      status, ...(failedStep ? { failedStep: failedStep.step, error: failedStep.error ?? '' } : {}), skipped, epoch: r.epoch,
    }, this.o.who);
    // Refused when another runner resumed the run meanwhile: the run is now that runner's to end.
    if (ended) await this.s.tracking.endRun(r.runId, { tags: endTags, status, endTime: ended.endTime ?? now() }, this.o.who);
    const registered: PipelineRunResult['registered'] = [];
    for (const s of steps) {
      const entry = s.outputs.registration;
      if (!entry || s.status === 'skipped' || s.status === 'failed') continue;
      const reg = s.registration ?? (await this.readRegistration(entry));
      if (reg?.registered) registered.push({ step: s.step, name: reg.name, version: reg.version, alias: reg.alias ?? null, created: !!reg.created && s.status === 'done' });
    }
    return {
      runId: r.runId, experimentId: r.experimentId, pipeline: ir.name, status, steps, registered, durationMs: now() - started,
      ...(failedStep ? { failed: { step: failedStep.step, error: failedStep.error ?? '' } } : {}),
    };
  }

  private async readRegistration(entry: OutputEntry): Promise<Registration | undefined> {
    try {
      return JSON.parse((await this.s.tracking.readArtifact(entry.run, `outputs/${entry.name}`)).toString('utf8')) as Registration;
    } catch {
      return undefined;
    }
  }

  private async runOne(step: Step, done: Map<string, StepOutcome>, r: {
    runId: string; experimentId: string; params: Record<string, Scalar>; baseDir: string; noCache: boolean; work: string; ir: PipelineIR; signal?: AbortSignal;
    dataRoots?: string[]; runAs?: RunAs;
  }): Promise<StepOutcome & { registration?: Registration }> {
    const t0 = now();
    const comp = componentsFor(r.ir, step.component)[0]!;
    const compRef = `${comp.name}@${comp.version}`;
    const runs = this.s.pipelines;
    let childId: string | undefined;
    try {
      // Inputs: scalars resolved; artifacts named by the output entries of the steps that made them.
      const scalars: Record<string, Scalar> = {};
      const inputEntries: Record<string, OutputEntry> = {};
      const consumed: StepEdge[] = [];
      for (const [name, spec] of Object.entries(comp.inputs)) {
        const v = step.inputs[name];
        if (isOutputRef(v)) {
          const up = done.get(v.step)!;
          const entry = up.outputs[v.output];
          if (!entry) throw invalid(`step '${step.name}': upstream step '${v.step}' has no output '${v.output}'`);
          inputEntries[name] = entry;
          if (up.runId) consumed.push(inputEdge(name, up.runId, v.output, entry));
        } else if (isParamRef(v)) {
          if (r.params[v.param] !== undefined) scalars[name] = r.params[v.param]!;
        } else if (v !== undefined) scalars[name] = v;
        else if (spec.default !== undefined) scalars[name] = spec.default;
      }
      // The parameters a command reads through `{params.NAME}`: part of the key, and sent with the job.
      const params = comp.kind === 'command' ? paramsReadBy(comp, r.params) : {};
      const facts = comp.kind === 'builtin' ? await builtinCacheFacts(compRef, scalars, this.services(), r.baseDir, r.dataRoots) : await moduleFacts(comp, r.baseDir);
      const keyParts: CacheKeyParts = {
        engine: ENGINE_VERSION, component: comp, scalars, ...(Object.keys(params).length ? { params } : {}),
        artifacts: Object.fromEntries(Object.entries(inputEntries).map(([k, e]) => [k, e.sha256])), facts,
      };
      const cacheKey = sha256Hex(canonicalJson(keyParts));
      // What went into the key, so that `pipelines why` can say which part changed; and, when the
      // cache is not consulted, whether the step (`cache.enabled: false`) or the run (`--no-cache`) turned it off.
      const cacheOff = r.noCache ? 'run' : !step.cache.enabled ? 'step' : undefined;
      const summary = { ...keyPartsSummary(keyParts), ...(cacheOff ? { cacheOff } : {}) };
      consumed.push(...championEdge(compRef, facts));
      const baseTags = {
        [TAG.parent]: r.runId, [TAG.step]: step.name, [TAG.component]: compRef, [TAG.key]: cacheKey, [TAG.runName]: step.name,
        [TAG.keyParts]: clip(JSON.stringify(summary), 5000),
      };
      const record = { pipelineRunId: r.runId, experimentId: r.experimentId, step: step.name, component: compRef, cacheKey, keyParts: summary, startTime: t0 };

      if (!cacheOff) {
        const ttl = step.cache.ttlSeconds;
        const hit = await runs.findCacheEntry(r.experimentId, cacheKey, ttl === undefined ? {} : { notBefore: now() - ttl * 1000 });
        if (hit?.outputs) {
          const outputs = hit.outputs as Record<string, OutputEntry>;
          const metrics = hit.metrics;
          let registration: Registration | undefined;
          if (outputs.registration && compRef === 'register@1') {
            // The registration is a side effect, not a value: make it true again.
            registration = await this.readRegistration(outputs.registration);
            if (registration?.registered) {
              const again = await registerModel(this.s.registry, this.o.who, { name: registration.name, runId: registration.runId, alias: registration.alias ?? undefined });
              registration = { ...registration, ...again };
            }
          }
          // The mirror, written whole, then the record (the commit point) under the same id.
          childId = newRunId();
          const t = now();
          const list = Object.entries(metrics).map(([key, value]) => ({ key, value, timestamp: t, step: 0 }));
          await this.s.tracking.writeRun({
            runId: childId, experimentId: r.experimentId, runName: step.name, startTime: t0, status: 'FINISHED', endTime: t, metrics: list.slice(0, 1000),
            tags: { ...baseTags, [TAG.cached]: 'true', [TAG.source]: hit.id, [TAG.outputs]: JSON.stringify(outputs) },
          }, this.o.who);
          for (let i = 1000; i < list.length; i += 1000) await this.s.tracking.logBatch(childId, { metrics: list.slice(i, i + 1000) }, this.o.who);
          await runs.recordCachedStepRun({
            ...record, id: childId, cacheSource: hit.id, outputs, metrics,
            edges: [...consumed, ...ingestEdges(compRef, outputs), ...registrationEdge(registration)],
          }, this.o.who);
          return { step: step.name, status: 'cached', runId: childId, cached: true, cacheSource: hit.id, cacheKey, durationMs: now() - t0, outputs, metrics, registration };
        }
      }

      const child = await this.s.tracking.createRun({ experimentId: r.experimentId, runName: step.name, startTime: t0, tags: { ...baseTags, [TAG.entry]: cacheKey } }, this.o.who);
      childId = child.info.runId;
      await runs.startStepRun({ ...record, id: childId, edges: consumed }, this.o.who);
      const job: StepJob = {
        v: 1, pipelineRunId: r.runId, stepRunId: childId, step: step.name, component: comp, baseDir: r.baseDir,
        scalars, ...(Object.keys(params).length ? { params } : {}), artifacts: inputEntries, retries: step.retries, timeoutSeconds: step.timeoutSeconds,
        ...(r.dataRoots ? { dataRoots: r.dataRoots } : {}),
        ...(r.dataRoots && r.runAs ? { runAs: r.runAs } : {}),
      };
      const rec = await this.dispatcher.execute(job, { workRoot: r.work, signal: r.signal });
      if (rec.status !== 'FINISHED') throw new StepEnded(rec.error ?? `step '${step.name}' ended ${rec.status}`);
      return { step: step.name, status: 'done', runId: childId, cached: false, cacheKey, durationMs: now() - t0, outputs: rec.outputs, metrics: rec.metrics };
    } catch (e) {
      const message = errorText(e);
      // A step that ended FAILED recorded that itself; anything else that went wrong is recorded here.
      if (childId && !(e instanceof StepEnded)) await recordFailure(this.s, this.o.who, childId, message, { status: r.signal?.aborted ? 'KILLED' : 'FAILED' });
      return { step: step.name, status: 'failed', runId: childId, cached: false, durationMs: now() - t0, outputs: {}, metrics: {}, error: message };
    }
  }

  private services() {
    return { registry: this.s.registry, data: this.s.data, tracking: this.s.tracking, who: this.o.who };
  }

}

const RUNNER_HEARTBEAT_MS = 5000;
const RUNNER_LEASE_MS = 30_000;
const RUNNER_TAG = { host: 'trellis.runner.host', pid: 'trellis.runner.pid', heartbeat: 'trellis.runner.heartbeat' } as const;

/** The runner as the mirror shows it (its heartbeat there is the time it started or resumed the run). */
function runnerTags(): Record<string, string> {
  return { [RUNNER_TAG.host]: hostname(), [RUNNER_TAG.pid]: String(process.pid), [RUNNER_TAG.heartbeat]: String(now()) };
}

/**
 * Why a RUNNING pipeline run's runner is taken to be alive, or undefined when it is not: on this
 * host, its process is gone; elsewhere, its heartbeat is older than the lease.
 */
/** Whether a runner was a process of this host that no longer exists. */
function runnerGone(runner: PipelineRunner): boolean {
  return runner.host === hostname() && Number.isInteger(runner.pid) && runner.pid > 0 && processGone(runner.pid);
}

function runnerAlive(runner: PipelineRunner, leaseMs: number): string | undefined {
  const pid = runner.pid;
  const age = now() - runner.heartbeatAt;
  if (runner.host === hostname() && Number.isInteger(pid) && pid > 0) {
    if (processGone(pid)) return undefined;
    // The process exists; unless its heartbeat stopped (the pid was reused), it is the runner.
    return age < leaseMs ? `its runner, process ${pid} on this host, is alive` : undefined;
  }
  return age < leaseMs ? `its runner on ${runner.host || 'another host'} was alive ${Math.round(age / 1000)} s ago (a run is taken for abandoned after ${leaseMs / 1000} s of silence)` : undefined;
}

/** What a step's cache key is computed from. */
export interface CacheKeyParts {
  engine: string;
  component: ComponentDef;
  scalars: Record<string, unknown>;
  /** The pipeline parameters a command reads through `{params.NAME}` (absent when none, so other keys stay as they were). */
  params?: Record<string, unknown>;
  artifacts: Record<string, string>;
  facts: Record<string, unknown>;
}

/** The key's parts as recorded: the component reduced to its name, version and a hash of its definition. */
export function keyPartsSummary(k: CacheKeyParts): Record<string, unknown> {
  return {
    engine: k.engine, component: `${k.component.name}@${k.component.version}`, definition: sha256Hex(canonicalJson(k.component)).slice(0, 16),
    scalars: k.scalars, ...(k.params ? { params: k.params } : {}), artifacts: k.artifacts, facts: k.facts,
  };
}

/** The values of the pipeline parameters a command component names in `{params.NAME}` placeholders. */
export function paramsReadBy(comp: CommandComponent, params: Record<string, Scalar>): Record<string, Scalar> {
  const out: Record<string, Scalar> = {};
  for (const { text } of commandTexts(comp)) {
    for (const [, space, name] of text.matchAll(PLACEHOLDER)) {
      if (space === 'params' && params[name!] !== undefined) out[name!] = params[name!]!;
    }
  }
  return out;
}

export interface Registration { registered: boolean; name: string; version: string; alias: string | null; created?: boolean; runId: string }


/** Declared defaults, then the values given; unknown names and missing values are refused. */
export function resolveParams(ir: PipelineIR, given: Record<string, Scalar>): Record<string, Scalar> {
  const out: Record<string, Scalar> = {};
  for (const k of Object.keys(given)) {
    if (!ir.params.some((p) => p.name === k)) throw invalid(`pipeline '${ir.name}' has no parameter '${k}'; it has ${ir.params.map((p) => p.name).join(', ') || 'none'}`);
  }
  for (const p of ir.params) {
    const v = given[p.name] ?? p.default;
    if (v === undefined) throw invalid(`pipeline '${ir.name}' needs a value for parameter '${p.name}' (${p.type}): pass --param ${p.name}=…`);
    out[p.name] = v;
  }
  return out;
}

/** The bytes behind a custom component: its module file, or the files its command names. */
async function moduleFacts(comp: ComponentDef, baseDir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const hashIfFile = async (p: string) => {
    const st = existsSync(p) ? statSync(p) : undefined;
    if (!st?.isFile()) return undefined;
    // A module is small: read at once. A command's argument may be a large data file: stream it.
    return st.size <= 1 << 20 ? sha256Hex(readFileSync(p)) : hashFile(p);
  };
  if (comp.kind === 'typescript') {
    const m = comp.module.startsWith('file:') || isAbsolute(comp.module) ? comp.module : resolve(baseDir, comp.module);
    const p = m.startsWith('file:') ? new URL(m).pathname : m;
    const h = await hashIfFile(p);
    if (h) out.module = h;
  } else if (comp.kind === 'command') {
    const wd = comp.workdir ? resolve(baseDir, comp.workdir) : baseDir;
    for (const [i, a] of comp.command.entries()) {
      if (a.includes('{') || i === 0) continue;
      const h = await hashIfFile(resolve(wd, a)).catch(() => undefined);
      if (h) out[`arg${i}`] = h;
    }
  }
  return out;
}
