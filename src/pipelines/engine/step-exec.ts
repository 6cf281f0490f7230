/**
 * The execution half of a step, separated from scheduling and caching so that it can run where
 * the engine is (the local executor) or in a `trellis worker` process that took the step from a
 * queue. Everything it needs travels in a {@link StepJob} — plain JSON — and everything it
 * produces goes to the shared stores: outputs and the log as artifacts of the step run, the MLflow
 * mirror (the `trellis.outputs` tag, params, metrics, the status), and last the step run's record
 * (its outputs with their hashes, metrics, lineage edges, FINISHED or FAILED): the commit point,
 * written last so that when it says the step ended, everything it points to is in place. The
 * engine reads the outcome back from the record, so a worker's result survives the loss of the
 * queue; a worker whose lease was taken over is fenced out and records nothing.
 */
import { chmodSync, createReadStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { TrellisError, invalid } from '../../core/errors.js';
import type { Actor } from '../../store/ports/common.js';
import { artifactStorePath } from '../../tracking/tracking-service.js';
import { defaultRunAs, hashOutput, isRoot, unreachable, runInProcessStep, runStep, scrubbedEnv, type RunAs, type StepInput, type StepResult, type StepSpec } from '../executors/index.js';
import type { ComponentDef, Scalar } from '../ir.js';
import { BUILTIN_IMPLS, type BuiltinContext } from './builtins/index.js';
import type { DatasetService } from '../../data/datasets.js';
import type { RegistryService } from '../../registry/registry-service.js';
import type { ArtifactStore } from '../../store/artifact-store.js';
import type { LeaseFence, PipelineStore, StepRunRecord } from '../../store/ports/pipelines.js';
import type { TriggerStore } from '../../store/ports/triggers.js';
import { ingestEdges, registrationEdge } from './edges.js';
import type { TrackingService } from '../../tracking/tracking-service.js';

/**
 * What the engines run against: their own ports — the pipeline records and the trigger records —
 * and the services for everything else (runs and their MLflow mirror, models, datasets), plus the
 * artifact store the outputs live in. Put together in one place (the Workspace); no engine holds
 * another concept's port.
 */
export interface EngineServices {
  /** Pipeline versions, pipeline runs, step runs, cache entries, leases and lineage edges. */
  pipelines: PipelineStore;
  /** The trigger records the scheduler claims and ends. */
  triggers: TriggerStore;
  artifacts: ArtifactStore;
  tracking: TrackingService;
  registry: RegistryService;
  data: DatasetService;
}

/** Where a step's output lives: the step run holding its bytes under `outputs/<name>`, and their sha256. */
export interface OutputEntry {
  type: string;
  sha256: string;
  /** The step run whose artifacts hold the bytes, under `outputs/<name>`. */
  run: string;
  name: string;
  kind: 'file' | 'dir';
  meta?: Record<string, string>;
  /** Already on this machine here (a step run on its own, given its inputs as files): used as it is. */
  path?: string;
}

/** One step to execute, as JSON: what a queue carries to a worker. */
export interface StepJob {
  v: 1;
  pipelineRunId: string;
  /** The step's tracking run, created by the engine (RUNNING); the job finishes or fails it. */
  stepRunId: string;
  step: string;
  component: ComponentDef;
  /** The folder relative module paths and command workdirs are resolved from. */
  baseDir: string;
  scalars: Record<string, Scalar>;
  /** The pipeline parameters a command reads through `{params.NAME}`, with this run's values. */
  params?: Record<string, Scalar>;
  artifacts: Record<string, OutputEntry>;
  retries?: number;
  timeoutSeconds?: number;
  /** Folders the built-ins may read files from; unset, any file (see RunOptions.dataRoots). */
  dataRoots?: string[];
  /** Who a deployed pipeline's code runs as when the executing process is root, unless it names its own (see RunOptions.runAs). */
  runAs?: RunAs;
}

/** The outcome of a step as recorded on its run. */
export interface StepRecord {
  status: 'FINISHED' | 'FAILED' | 'KILLED' | 'RUNNING' | 'SCHEDULED';
  outputs: Record<string, OutputEntry>;
  metrics: Record<string, number>;
  error?: string;
}

/** The tags of a step run's MLflow mirror (written for MLflow clients; nothing reads them back). */
export const STEP_TAG = {
  outputs: 'trellis.outputs',
  error: 'trellis.error',
} as const;

export const clip = (s: string, n = 4000) => (Buffer.byteLength(s) > n ? `${Buffer.from(s).subarray(0, n).toString('utf8')}…` : s);
export const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function stepRecord(run: StepRunRecord): StepRecord {
  return {
    status: run.status,
    outputs: run.outputs ?? {},
    metrics: run.metrics,
    ...(run.error ? { error: run.error } : {}),
  };
}

export interface ExecuteOptions {
  who: Actor;
  /**
   * A folder for the run's files, removed by the caller: each step writes its outputs under
   * `<workRoot>/runs/<step run>/`, so a later step on the same machine reads them where they are
   * instead of fetching them again.
   */
  workRoot: string;
  signal?: AbortSignal;
  /** The lease the executing worker holds: its records are refused once the lease was taken over. */
  fence?: LeaseFence;
  /**
   * Who a deployed pipeline's code runs as when this process is root: the executing process's own
   * choice (a worker's `--run-as`), over the job's. Neither given, `nobody`; never root.
   */
  runAs?: RunAs;
}

/**
 * Runs a step job to its end and records the outcome on its step run (FINISHED with outputs, or
 * FAILED with its error). Resolves with the record — as the store has it, when this execution was
 * fenced out; never throws for a failure of the step.
 */
export async function executeStepJob(s: EngineServices, job: StepJob, o: ExecuteOptions): Promise<StepRecord> {
  const comp = job.component;
  const compRef = `${comp.name}@${comp.version}`;
  const childId = job.stepRunId;
  // The step's scalar inputs are its mirror's params, logged with its end (one write fewer per step).
  const params = Object.entries(job.scalars).map(([key, v]) => ({ key, value: clip(String(v), 5000) }));
  const stepDir = localPath(o.workRoot, childId);
  let logPath = join(o.workRoot, 'logs', `${childId}.log`);
  try {
    const inputs: Record<string, StepInput> = { ...job.scalars };
    for (const [name, entry] of Object.entries(job.artifacts)) {
      inputs[name] = { type: entry.type as 'Dataset', path: await materialize(s, entry, o.workRoot) };
    }
    mkdirSync(stepDir, { recursive: true });
    mkdirSync(dirname(logPath), { recursive: true });
    let outMeta: Record<string, Record<string, string>> = {};
    const outPaths: Record<string, string> = {};
    let extraParams: Record<string, string> = {};
    let registration: Registration | undefined;
    const declared = Object.fromEntries(Object.entries(comp.outputs).map(([k, out]) => [k, { type: out.type }]));
    const limits = { step: job.step, outputDir: stepDir, logPath, retries: job.retries, timeoutSeconds: job.timeoutSeconds, signal: o.signal };
    const res = await (comp.kind === 'builtin'
      ? runBuiltin(s, job, o, { ...limits, inputs, outputs: declared }, (r) => { registration = r.registration; outMeta = r.outMeta; extraParams = r.extraParams; })
      : runStep({ ...limits, component: confinedSpec(componentSpec(comp, job.baseDir), job), inputs, params: job.params, outputs: declared }, userCodeOptions(job, stepDir, o)))
      .catch((e: unknown) => {
        const lp = (e as TrellisError).params?.logPath;
        if (typeof lp === 'string') logPath = lp;
        throw e;
      });
    const metrics = res.metrics ?? {};
    for (const [k, out] of Object.entries(res.outputs)) outPaths[k] = out.path;
    logPath = res.logPath;
    // Outputs as artifacts first; then the record naming them with their hashes (FINISHED); then the mirror.
    const entries: Record<string, OutputEntry> = {};
    for (const [k, p] of Object.entries(outPaths)) {
      const kind = statSync(p).isDirectory() ? 'dir' : 'file';
      // A file's output hash is the sha256 of its bytes, which the store computes as it writes them.
      const stored = await upload(s, childId, `outputs/${k}`, p);
      const sha256 = stored ?? await hashOutput(p);
      entries[k] = { type: comp.outputs[k]!.type, sha256, run: childId, name: k, kind, ...(outMeta[k] ? { meta: outMeta[k] } : {}) };
    }
    if (existsSync(logPath)) await s.tracking.logArtifact(childId, `logs/${job.step}.log`, localBytes(logPath));
    const runs = s.pipelines;
    // Ended meanwhile (a resume stopped it, or another worker took it over): what the store says stands.
    if ((await mayRecord(s, childId, o.fence)) !== 'yes') return stepRecord(await runs.getStepRun(childId));
    const extra = Object.entries(extraParams).map(([key, value]) => ({ key, value: clip(value, 5000) }));
    await endMirror(s, o.who, childId, { status: 'FINISHED', metrics, params: [...params, ...extra], tags: [{ key: STEP_TAG.outputs, value: JSON.stringify(entries) }] });
    const recorded = await runs.finishStepRun(childId, {
      outputs: entries, metrics, edges: [...ingestEdges(compRef, entries), ...registrationEdge(registration)], fence: o.fence,
    }, o.who);
    // Refused: the step was ended meanwhile (a resume stopped it): the mirror says what the record says.
    if (!recorded) return stepRecord(await alignMirror(s, o.who, childId));
    return { status: 'FINISHED', outputs: entries, metrics };
  } catch (e) {
    const message = errorText(e);
    const lp = typeof (e as TrellisError).params?.logPath === 'string' ? String((e as TrellisError).params.logPath) : logPath;
    const status = o.signal?.aborted ? 'KILLED' : 'FAILED';
    if (!(await recordFailure(s, o.who, childId, message, { logFile: existsSync(lp) ? lp : undefined, step: job.step, status, fence: o.fence, params }))) {
      const now = await s.pipelines.getStepRun(childId).catch(() => undefined);
      if (now) return stepRecord(now);
    }
    return { status, outputs: {}, metrics: {}, error: message };
  }
}

type Registration = { registered?: boolean; name?: string; version?: string };

/**
 * A built-in component's attempts, under the step's timeout, retries and cancellation: each attempt
 * gets a fresh context whose signal aborts when the attempt is stopped. What the last attempt
 * said besides its outputs (output facts, extra params, a registration) is handed to `done`.
 */
function runBuiltin(s: EngineServices, job: StepJob, o: ExecuteOptions, spec: Omit<StepSpec, 'component'>,
  done: (r: { outMeta: Record<string, Record<string, string>>; extraParams: Record<string, string>; registration?: Registration }) => void): Promise<StepResult> {
  const comp = job.component;
  const compRef = `${comp.name}@${comp.version}`;
  const impl = BUILTIN_IMPLS[compRef];
  if (!impl) return Promise.reject(invalid(`step '${job.step}': no implementation of the built-in component ${compRef}`));
  return runInProcessStep({ ...spec, component: { name: comp.name, version: comp.version, kind: 'in-process' } }, async ({ signal, log }) => {
    const metrics: Record<string, number> = {};
    const outMeta: Record<string, Record<string, string>> = {};
    const extraParams: Record<string, string> = {};
    const outputs = Object.fromEntries(Object.entries(comp.outputs).map(([k, out]) => [k, { type: out.type, path: join(spec.outputDir, k) }]));
    const bctx: BuiltinContext = {
      step: job.step, inputs: spec.inputs, outputs, signal,
      services: { registry: s.registry, data: s.data, tracking: s.tracking, who: o.who }, baseDir: job.baseDir,
      ...(job.dataRoots ? { dataRoots: job.dataRoots } : {}),
      inputMeta: (n) => job.artifacts[n]?.meta ?? {},
      inputRun: (n) => job.artifacts[n]?.run || undefined,
      setOutputMeta: (n, m) => { outMeta[n] = m; },
      log,
      metric: (n, v) => { if (Number.isFinite(v)) metrics[n] = v; },
      param: (n, v) => { if (!(n in job.scalars)) extraParams[n] = v; },
    };
    await impl(bctx);
    const reg = outputs.registration && compRef === 'register@1' && existsSync(outputs.registration.path)
      ? JSON.parse(readFileSync(outputs.registration.path, 'utf8')) as Registration : undefined;
    done({ outMeta, extraParams, ...(reg ? { registration: reg } : {}) });
    return metrics;
  });
}

/**
 * Whether this execution may still record the step's end: its record is RUNNING and, for a worker,
 * `fence` still holds the lease (`no-record` for a mirror whose record was never written). Checked
 * before the mirror is touched; the record's own compare-and-set settles the rest.
 */
async function mayRecord(s: EngineServices, runId: string, fence?: LeaseFence): Promise<'yes' | 'no' | 'no-record'> {
  const runs = s.pipelines;
  const [st, lease] = await Promise.all([runs.getStepRun(runId).catch(() => undefined), fence ? runs.getStepLease(runId) : undefined]);
  if (!st) return 'no-record';
  return st.status === 'RUNNING' && (!fence || (lease?.owner === fence.owner && lease.epoch === fence.epoch)) ? 'yes' : 'no';
}

/**
 * Records a RUNNING step run FAILED (or KILLED) with its error: its mirror first (the log when
 * there is one, the error tag, the status), then the record. Resolves false when the step had
 * ended already or `fence` no longer holds its lease, and then leaves the mirror alone. Never throws.
 */
export async function recordFailure(s: EngineServices, who: Actor, runId: string, message: string, o: {
  logFile?: string; step?: string; status?: 'FAILED' | 'KILLED'; fence?: LeaseFence; params?: { key: string; value: string }[];
} = {}): Promise<boolean> {
  const status = o.status ?? 'FAILED';
  const may = await mayRecord(s, runId, o.fence).catch(() => 'no' as const);
  if (may === 'no') return false;
  if (o.logFile && o.step) await s.tracking.logArtifact(runId, `logs/${o.step}.log`, await readFile(o.logFile)).catch(() => undefined);
  await endMirror(s, who, runId, { status, params: o.params, tags: [{ key: STEP_TAG.error, value: clip(message) }] }).catch(() => undefined);
  if (may === 'no-record') return true;
  const failed = await s.pipelines.failStepRun(runId, { status, error: clip(message), fence: o.fence }, who).catch(() => undefined);
  if (!failed) await alignMirror(s, who, runId).catch(() => undefined);
  return !!failed;
}

/**
 * The record is the truth; the mirror is ended just before it, so of two executions ending a step
 * at once (a worker finishing it, a resume stopping it) the loser may have written the mirror
 * last. The loser sets the mirror's status back to the record's.
 */
async function alignMirror(s: EngineServices, who: Actor, runId: string): Promise<StepRunRecord> {
  const rec = await s.pipelines.getStepRun(runId);
  if (rec.status !== 'RUNNING' && (await s.tracking.getRun(runId)).info.status !== rec.status) {
    await s.tracking.updateRun(runId, { status: rec.status, ...(rec.endTime ? { endTime: rec.endTime } : {}) }, who);
  }
  return rec;
}

/**
 * Ends a step's MLflow mirror with what it logged: batches beyond MLflow's sizes (1,000 metrics,
 * 100 params) first, then the last batch and the end status in one transaction.
 */
export async function endMirror(s: EngineServices, who: Actor, runId: string, o: {
  status: 'FINISHED' | 'FAILED' | 'KILLED'; metrics?: Record<string, number>; params?: { key: string; value: string }[]; tags?: { key: string; value: string }[];
}): Promise<void> {
  const t = Date.now();
  let metrics = Object.entries(o.metrics ?? {}).map(([key, value]) => ({ key, value, timestamp: t, step: 0 }));
  let params = o.params ?? [];
  while (metrics.length > 1000 || params.length > 100) {
    await s.tracking.logBatch(runId, { metrics: metrics.slice(0, 1000), params: params.slice(0, 100) }, who);
    metrics = metrics.slice(1000);
    params = params.slice(100);
  }
  await s.tracking.endRun(runId, { metrics, params, tags: o.tags ?? [], status: o.status, endTime: t }, who);
}

/** Stores a file (returning its sha256) or a directory's files under `rel`. */
async function upload(s: EngineServices, runId: string, rel: string, path: string): Promise<string | undefined> {
  if (!statSync(path).isDirectory()) return (await s.tracking.logArtifact(runId, rel, localBytes(path))).sha256;
  for (const name of await readdir(path)) await upload(s, runId, `${rel}/${name}`, join(path, name));
  return undefined;
}

/** A local file's bytes: read at once when small, streamed when large. */
function localBytes(path: string): Buffer | Readable {
  return statSync(path).size <= 1 << 20 ? readFileSync(path) : createReadStream(path);
}

const localPath = (workRoot: string, runId: string, name?: string) => join(workRoot, 'runs', runId, ...(name ? [name] : []));

/**
 * The local path of an output: where its step wrote it when that happened here, else fetched from
 * the run holding it (into a temporary name, renamed when its sha256 matches the record).
 */
export async function materialize(s: EngineServices, entry: OutputEntry, workRoot: string): Promise<string> {
  if (entry.path) return entry.path;
  const final = localPath(workRoot, entry.run, entry.name);
  if (existsSync(final)) return final;
  const local = `${final}.partial-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const run = await s.tracking.getRun(entry.run);
  const root = `${artifactStorePath(run.info.artifactUri)}/outputs/${entry.name}`;
  await mkdir(dirname(local), { recursive: true });
  if (entry.kind === 'file') {
    await writeFile(local, await s.artifacts.get(root));
  } else {
    const walk = async (dir: string): Promise<void> => {
      for (const f of await s.artifacts.list(dir)) {
        if (f.isDir) await walk(f.path);
        else {
          const target = join(local, relative(root, f.path));
          await mkdir(dirname(target), { recursive: true });
          await writeFile(target, await s.artifacts.get(f.path));
        }
      }
    };
    await mkdir(local, { recursive: true });
    await walk(root);
  }
  const sha = await hashOutput(local);
  if (sha !== entry.sha256) {
    await rm(local, { recursive: true, force: true });
    throw invalid(`output '${entry.name}' of run ${entry.run} has sha256 ${sha}, but ${entry.sha256} was recorded`);
  }
  if (existsSync(final)) await rm(local, { recursive: true, force: true }); // fetched twice at once: keep the first
  else await rename(local, final);
  return final;
}

/**
 * A deployed pipeline's code (its job carries data roots) runs in a child process of its own with
 * a scrubbed environment — never in a thread of the server, never with the server's secrets — its
 * HOME the step's folder and its temporary files in `.tmp` there. When this process is root, the
 * child runs as an unprivileged user, never as root: the step's folder is handed to it for the
 * attempt (see `run-as.ts`), and the folders above it are made passable for it.
 */
function userCodeOptions(job: StepJob, stepDir: string, o: ExecuteOptions): { isolation?: 'process'; baseEnv?: NodeJS.ProcessEnv; runAs?: RunAs } {
  if (!job.dataRoots) return {};
  const tmp = join(stepDir, '.tmp');
  mkdirSync(tmp, { recursive: true });
  const baseEnv = { ...scrubbedEnv(stepDir), TMPDIR: tmp, TMP: tmp, TEMP: tmp };
  if (!isRoot()) return { isolation: 'process', baseEnv };
  const runAs = o.runAs ?? job.runAs ?? defaultRunAs();
  if (runAs.uid === 0 || runAs.gid === 0) throw invalid(`step '${job.step}': a deployed pipeline's code never runs as root (uid ${runAs.uid}, gid ${runAs.gid} was named)`);
  passable(o.workRoot, stepDir);
  for (const [what, dir] of [["the pipeline's package", job.baseDir], ["the step's folder", stepDir]] as const) {
    const closed = unreachable(dir, runAs);
    if (closed) throw invalid(`step '${job.step}': ${what} ${dir} is out of reach of ${runAs.user} (uid ${runAs.uid}), who runs deployed pipelines' code: that user may not pass through ${closed}; keep packages and work folders (TRELLIS_HOME, the temporary folder) where that user may pass`);
  }
  return { isolation: 'process', baseEnv, runAs };
}

/** Lets anyone pass through (not list) the folders from `root` down to `dir`'s parent, so the step's own user reaches its folder and inputs. */
function passable(root: string, dir: string): void {
  const parts = relative(resolve(root), resolve(dirname(dir))).split(/[\\/]/).filter(Boolean);
  let p = resolve(root);
  for (const part of ['', ...parts]) {
    p = part ? join(p, part) : p;
    const mode = statSync(p).mode & 0o7777;
    if ((mode & 0o011) !== 0o011) chmodSync(p, mode | 0o011);
  }
}

/** A deployed pipeline's command works in a folder of its package, not anywhere it names (`workdir: ../..`). */
function confinedSpec<T extends ReturnType<typeof componentSpec>>(spec: T, job: StepJob): T {
  if (!job.dataRoots || spec.kind !== 'command') return spec;
  const inside = (dir: string) => { const r = relative(job.baseDir, dir); return r === '' || (!r.startsWith('..') && !isAbsolute(r)); };
  if (!inside(spec.workdir)) throw invalid(`step '${job.step}': workdir ${spec.workdir} is outside the pipeline's package; a deployed pipeline's command works inside it`);
  return spec;
}

export function componentSpec(comp: ComponentDef, baseDir: string) {
  if (comp.kind === 'typescript') {
    const module = comp.module.startsWith('file:') || isAbsolute(comp.module) ? comp.module : resolve(baseDir, comp.module);
    return { name: comp.name, version: comp.version, kind: 'typescript' as const, module, export: comp.export };
  }
  if (comp.kind === 'command') {
    return {
      name: comp.name, version: comp.version, kind: 'command' as const, command: comp.command, env: comp.env,
      workdir: comp.workdir ? resolve(baseDir, comp.workdir) : baseDir,
    };
  }
  throw invalid(`component ${comp.name}@${comp.version} is not a TypeScript or command component`);
}
