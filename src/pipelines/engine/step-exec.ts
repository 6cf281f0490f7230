/**
 * The execution half of a step, separated from scheduling and caching so that it can run where
 * the engine is (the local executor) or in a `trellis worker` process that took the step from a
 * queue. Everything it needs travels in a {@link StepJob} — plain JSON — and everything it
 * produces goes to the shared stores: outputs as artifacts of the step run, their hashes in the
 * `trellis.outputs` tag, metrics, the log, and the run's final status. The engine reads the
 * outcome back from the step run, so a worker's result survives the loss of the queue.
 */
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { TrellisError, invalid } from '../../core/errors.js';
import type { Actor, Run } from '../../store/metadata-store.js';
import { artifactStorePath } from '../../tracking/tracking-service.js';
import { hashOutput, runStep, type StepInput } from '../executors/index.js';
import type { ComponentDef, Scalar } from '../ir.js';
import { BUILTIN_IMPLS, type BuiltinContext } from './builtins/index.js';
import type { DatasetService } from '../../data/datasets.js';
import type { RegistryService } from '../../registry/registry-service.js';
import type { ArtifactStore } from '../../store/artifact-store.js';
import type { MetadataStore } from '../../store/metadata-store.js';
import type { TrackingService } from '../../tracking/tracking-service.js';

/** The stores and services a step runs against. */
export interface EngineServices {
  meta: MetadataStore;
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
  artifacts: Record<string, OutputEntry>;
  retries?: number;
  timeoutSeconds?: number;
}

/** The outcome of a step as recorded on its run. */
export interface StepRecord {
  status: 'FINISHED' | 'FAILED' | 'KILLED' | 'RUNNING' | 'SCHEDULED';
  outputs: Record<string, OutputEntry>;
  metrics: Record<string, number>;
  error?: string;
}

export const STEP_TAG = {
  outputs: 'trellis.outputs',
  error: 'trellis.error',
  worker: 'trellis.worker',
  heartbeat: 'trellis.heartbeat',
  deliveries: 'trellis.deliveries',
  cancel: 'trellis.cancel_requested',
} as const;

export const clip = (s: string, n = 4000) => (Buffer.byteLength(s) > n ? `${Buffer.from(s).subarray(0, n).toString('utf8')}…` : s);
export const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function stepRecord(run: Run): StepRecord {
  const t = run.data.tags;
  return {
    status: run.info.status,
    outputs: JSON.parse(t[STEP_TAG.outputs] ?? '{}') as Record<string, OutputEntry>,
    metrics: Object.fromEntries(run.data.metrics.map((m) => [m.key, m.value])),
    ...(t[STEP_TAG.error] ? { error: t[STEP_TAG.error] } : {}),
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
}

/**
 * Runs a step job to its end and records the outcome on its step run (FINISHED with outputs, or
 * FAILED with `trellis.error`). Resolves with the record; never throws for a failure of the step.
 */
export async function executeStepJob(s: EngineServices, job: StepJob, o: ExecuteOptions): Promise<StepRecord> {
  const comp = job.component;
  const compRef = `${comp.name}@${comp.version}`;
  const logLines: string[] = [];
  const childId = job.stepRunId;
  const stepDir = localPath(o.workRoot, childId);
  let logPath = join(o.workRoot, 'logs', `${childId}.log`);
  try {
    const inputs: Record<string, StepInput> = { ...job.scalars };
    for (const [name, entry] of Object.entries(job.artifacts)) {
      inputs[name] = { type: entry.type as 'Dataset', path: await materialize(s, entry, o.workRoot) };
    }
    mkdirSync(stepDir, { recursive: true });
    mkdirSync(dirname(logPath), { recursive: true });
    let metrics: Record<string, number> = {};
    const outMeta: Record<string, Record<string, string>> = {};
    const outPaths: Record<string, string> = {};
    const extraParams: Record<string, string> = {};
    if (comp.kind === 'builtin') {
      const impl = BUILTIN_IMPLS[compRef];
      if (!impl) throw invalid(`step '${job.step}': no implementation of the built-in component ${compRef}`);
      const outputs = Object.fromEntries(Object.entries(comp.outputs).map(([k, out]) => [k, { type: out.type, path: join(stepDir, k) }]));
      const bctx: BuiltinContext = {
        step: job.step, inputs, outputs, services: { meta: s.meta, registry: s.registry, data: s.data, who: o.who }, baseDir: job.baseDir,
        inputMeta: (n) => job.artifacts[n]?.meta ?? {},
        inputRun: (n) => job.artifacts[n]?.run || undefined,
        setOutputMeta: (n, m) => { outMeta[n] = m; },
        log: (line) => { logLines.push(line); },
        metric: (n, v) => { if (Number.isFinite(v)) metrics[n] = v; },
        param: (n, v) => { if (!(n in job.scalars)) extraParams[n] = v; },
      };
      try {
        await impl(bctx);
      } catch (e) {
        throw new TrellisError('TRELLIS_STEP_FAILED', { step: job.step, detail: errorText(e) }, { cause: e });
      }
      for (const [k, out] of Object.entries(outputs)) {
        if (!existsSync(out.path)) throw new TrellisError('TRELLIS_STEP_OUTPUT_MISSING', { step: job.step, missing: k });
        outPaths[k] = out.path;
      }
      await writeFile(logPath, logLines.map((l) => `${l}\n`).join(''));
    } else {
      const res = await runStep({
        step: job.step,
        component: componentSpec(comp, job.baseDir),
        inputs, outputs: Object.fromEntries(Object.entries(comp.outputs).map(([k, out]) => [k, { type: out.type }])),
        outputDir: stepDir, logPath, retries: job.retries, timeoutSeconds: job.timeoutSeconds, signal: o.signal,
      }).catch((e: unknown) => {
        const lp = (e as TrellisError).params?.logPath;
        if (typeof lp === 'string') logPath = lp;
        throw e;
      });
      metrics = res.metrics ?? {};
      for (const [k, out] of Object.entries(res.outputs)) outPaths[k] = out.path;
      logPath = res.logPath;
    }
    // Record: outputs as artifacts, then the tag naming them with their hashes, then FINISHED.
    const entries: Record<string, OutputEntry> = {};
    for (const [k, p] of Object.entries(outPaths)) {
      const kind = statSync(p).isDirectory() ? 'dir' : 'file';
      // A file's output hash is the sha256 of its bytes, which the store computes as it writes them.
      const stored = await upload(s, childId, `outputs/${k}`, p);
      const sha256 = stored ?? await hashOutput(p);
      entries[k] = { type: comp.outputs[k]!.type, sha256, run: childId, name: k, kind, ...(outMeta[k] ? { meta: outMeta[k] } : {}) };
    }
    if (existsSync(logPath)) await s.tracking.logArtifact(childId, `logs/${job.step}.log`, localBytes(logPath));
    const extra = Object.entries(extraParams).map(([key, value]) => ({ key, value: clip(value, 5000) }));
    for (let i = 0; i < extra.length; i += 100) await s.meta.logBatch(childId, { params: extra.slice(i, i + 100) }, o.who);
    await logMetrics(s, o.who, childId, metrics, [{ key: STEP_TAG.outputs, value: JSON.stringify(entries) }]);
    await s.meta.updateRun(childId, { status: 'FINISHED', endTime: Date.now() }, o.who);
    return { status: 'FINISHED', outputs: entries, metrics };
  } catch (e) {
    const message = errorText(e);
    const lp = typeof (e as TrellisError).params?.logPath === 'string' ? String((e as TrellisError).params.logPath) : logPath;
    if (logLines.length && !existsSync(lp)) await writeFile(lp, logLines.map((l) => `${l}\n`).join('')).catch(() => undefined);
    await recordFailure(s, o.who, childId, message, existsSync(lp) ? lp : undefined, job.step, o.signal?.aborted ? 'KILLED' : 'FAILED');
    return { status: 'FAILED', outputs: {}, metrics: {}, error: message };
  }
}

/** Marks a step run FAILED with its error (and its log when there is one); never throws. */
export async function recordFailure(s: EngineServices, who: Actor, runId: string, message: string, logFile?: string, step?: string, status: 'FAILED' | 'KILLED' = 'FAILED'): Promise<void> {
  await s.meta.logBatch(runId, { tags: [{ key: STEP_TAG.error, value: clip(message) }] }, who).catch(() => undefined);
  if (logFile && step) await s.tracking.logArtifact(runId, `logs/${step}.log`, await readFile(logFile)).catch(() => undefined);
  await s.meta.updateRun(runId, { status, endTime: Date.now() }, who).catch(() => undefined);
}

/** Logs the metrics (in batches of MLflow's 1,000), and the tags with the last batch. */
export async function logMetrics(s: EngineServices, who: Actor, runId: string, metrics: Record<string, number>, tags: { key: string; value: string }[] = []): Promise<void> {
  const t = Date.now();
  const list = Object.entries(metrics).map(([key, value]) => ({ key, value, timestamp: t, step: 0 }));
  for (let i = 0; i === 0 || i < list.length; i += 1000) {
    const batch = list.slice(i, i + 1000);
    const last = i + 1000 >= list.length;
    if (batch.length || (last && tags.length)) await s.meta.logBatch(runId, { metrics: batch, ...(last && tags.length ? { tags } : {}) }, who);
  }
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
  const run = await s.meta.getRun(entry.run);
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
