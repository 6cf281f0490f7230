/**
 * The scheduler: turns the triggers of deployed pipelines into runs. Each pass (`tick`)
 *
 * 1. marks this scheduler alive on the records it runs, stops runs whose record someone cancelled,
 *    and fails records left `running` by a scheduler that went silent (past the lease);
 * 2. evaluates the cron, dataset and upstream-pipeline conditions of the latest version of every
 *    deployed pipeline, writing a trigger record per event (deduplicated by the event's key);
 * 3. takes pending records — whoever wrote them: itself, the API, another part of the platform —
 *    and starts runs as the pipeline's concurrency policy says:
 *    - `queue` (the default): one run at a time, records wait their turn, oldest first;
 *    - `skip`: a record arriving while a run is in progress is marked `skipped`, with the reason;
 *    - `cancel-previous`: the run in progress is cancelled (its steps stopped, the run KILLED) and
 *      the newest record starts; older pending records are superseded.
 *
 * A run fetches the version's package from the artifact store, verifies it, unpacks it to a cache
 * folder keyed by its sha256 and runs its IR with the pipeline engine. Every decision is the
 * record's status and detail, written with an audit event. The store is the only shared state:
 * several schedulers on one PostgreSQL never start a record twice (claims are atomic), and a
 * restarted one finds every event it already recorded.
 */
import { randomBytes } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cron } from 'croner';
import type { Actor } from '../../store/ports/common.js';
import type { PipelineDeployment, PipelineVersion } from '../../store/ports/pipelines.js';
import type { TriggerRecord, TriggerStatus } from '../../store/ports/triggers.js';
import { PipelineEngine, type EngineOptions, type EngineServices, type PipelineRunResult } from '../engine/engine.js';
import type { TriggerSpec } from '../ir.js';
import { dueTriggers } from './conditions.js';
import { dataRootsFromEnv } from '../engine/builtins/index.js';
import type { RunAs } from '../executors/index.js';
import { activeVersion, coerceParams, materialise } from './deployments.js';

export type DecisionAction = 'triggered' | 'started' | 'finished' | 'failed' | 'skipped' | 'cancelled' | 'abandoned' | 'waiting' | 'error';

/** One thing the scheduler decided or saw happen, for progress lines. */
export interface Decision {
  time: number;
  action: DecisionAction;
  pipeline?: string;
  trigger?: number;
  runId?: string;
  detail: string;
}

export interface SchedulerOptions {
  /** Who the audit trail names for the scheduler's decisions (default `trellis`, the platform). */
  who?: Actor;
  /** Recorded as `claimedBy` (default `<host>:<pid>:<random>`). */
  id?: string;
  /** The clock cron schedules are evaluated against (default Date.now); liveness uses the real clock. */
  now?: () => number;
  /** Time between passes of the loop started by `start()` (default 2000 ms). */
  pollMs?: number;
  /** Where packages are unpacked (default: a folder under the system temp dir). */
  cacheDir?: string;
  /** Runs at once, across pipelines (default 4). */
  maxRuns?: number;
  /** A record `running` without a sign of life from its scheduler for this long is failed as abandoned (default 60000 ms). */
  leaseMs?: number;
  /** Engine options for the runs (`concurrency`, `dispatcher` for workers, `workDir`, …). */
  engine?: Omit<EngineOptions, 'who'>;
  /** Folders besides its package a deployed pipeline may read data files from (default: `$TRELLIS_DATA_ROOTS`). */
  dataRoots?: string[];
  /**
   * Who the code of deployed pipelines runs as where their steps execute as root (see
   * `userCodeUser`); unset, `nobody`. Never root.
   */
  runAs?: RunAs;
  /**
   * Asked before a version whose components run user code (commands, TypeScript) starts: throws to
   * refuse the run (the record fails with its message). With auth on, it checks that the version's
   * deployer still holds pipeline-deployer on the pipeline — the deployer's rights now, not when it
   * deployed.
   */
  authorizeUserCode?: (run: { pipeline: string; version: number; deployer: string }) => Promise<void>;
  onDecision?: (d: Decision) => void;
}

interface ActiveRun {
  trigger: TriggerRecord;
  abort: AbortController;
  reason?: string;
  done: Promise<void>;
}

const FINAL: Record<PipelineRunResult['status'], TriggerStatus> = { FINISHED: 'finished', FAILED: 'failed', KILLED: 'cancelled' };

export class Scheduler {
  readonly id: string;
  private readonly who: Actor;
  private readonly now: () => number;
  private readonly cacheDir: string;
  private readonly maxRuns: number;
  private readonly leaseMs: number;
  private readonly dataRoots: string[];
  private readonly active = new Map<number, ActiveRun>();
  /** Records already reported as waiting, so a queue is announced once, not on every pass. */
  private readonly announced = new Set<number>();
  private heartbeat?: NodeJS.Timeout;
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<unknown>;
  private again = false;
  private looping = false;
  private readonly crons = new Map<string, Cron>();

  constructor(readonly s: EngineServices, private readonly o: SchedulerOptions = {}) {
    this.id = o.id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.who = o.who ?? { actor: 'trellis' };
    this.now = o.now ?? Date.now;
    this.cacheDir = o.cacheDir ?? join(tmpdir(), 'trellis-packages');
    this.maxRuns = Math.max(1, o.maxRuns ?? 4);
    this.leaseMs = o.leaseMs ?? 60_000;
    this.dataRoots = o.dataRoots ?? dataRootsFromEnv();
  }

  /** Runs started by this scheduler that have not ended. */
  get running(): number {
    return this.active.size;
  }

  /** One pass: liveness, conditions, then pending records. Resolves once the runs it starts have started (not ended). */
  async tick(): Promise<Decision[]> {
    const decisions: Decision[] = [];
    const emit = (d: Omit<Decision, 'time'>) => {
      const full = { time: Date.now(), ...d };
      decisions.push(full);
      this.o.onDecision?.(full);
    };
    if (this.active.size) await this.s.triggers.touchTriggers(this.id);
    await this.followCancellations(emit);
    await this.failAbandoned(emit);
    // The version each deployed pipeline runs; a paused one's conditions are not evaluated.
    const deployments = new Map((await this.s.pipelines.listPipelineDeployments()).map((d) => [d.name, d]));
    const versions: PipelineVersion[] = [];
    for (const d of deployments.values()) if (d.active !== null) versions.push(await this.s.pipelines.getPipelineVersion(d.name, d.active));
    const firing = versions.filter((v) => !deployments.get(v.name)!.paused);
    if (this.looping) this.scheduleCronWakeups(firing);
    const now = this.now();
    for (const v of firing) {
      // Events count from when this version went live (deployed, rolled back to, or its triggers resumed).
      const since = Math.max(v.createdAt, deployments.get(v.name)!.changedAt ?? 0);
      for (const input of await dueTriggers(this.s, v, now, since)) {
        const { trigger, created } = await this.s.triggers.createTrigger(input, this.who);
        if (created) emit({ action: 'triggered', pipeline: v.name, trigger: trigger.id, detail: `${trigger.kind}: ${trigger.reason}` });
      }
    }
    await this.dispatch(versions, deployments, emit);
    return decisions;
  }

  /** Resolves when every run this scheduler has started has ended and its record is written. */
  async settled(): Promise<void> {
    while (this.active.size) await Promise.allSettled([...this.active.values()].map((a) => a.done));
  }

  /** Passes every `pollMs`, and at once when a cron time comes or a run ends. */
  start(): void {
    if (this.looping) return;
    this.looping = true;
    this.wake();
  }

  /**
   * Stops the loop and waits for the runs in progress to end; with `cancel`, cancels them first
   * (their steps are stopped, the runs end KILLED and their records `cancelled`).
   */
  async stop(opts: { cancel?: boolean; reason?: string } = {}): Promise<void> {
    this.looping = false;
    clearTimeout(this.timer);
    for (const c of this.crons.values()) c.stop();
    this.crons.clear();
    await this.ticking?.catch(() => undefined);
    if (opts.cancel) for (const a of this.active.values()) this.abort(a, opts.reason ?? 'the scheduler stopped');
    await this.settled();
  }

  private wake(): void {
    if (!this.looping) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.ticking = this.tick()
      .catch((e: unknown) => this.o.onDecision?.({ time: Date.now(), action: 'error', detail: errorText(e) }))
      .finally(() => {
        this.ticking = undefined;
        if (!this.looping) return;
        if (this.again) {
          this.again = false;
          setImmediate(() => this.wake());
        } else this.timer = setTimeout(() => this.wake(), this.o.pollMs ?? 2000);
      });
  }

  /** A croner job per distinct schedule of the deployed versions, waking the loop when it is due. */
  private scheduleCronWakeups(versions: PipelineVersion[]): void {
    const wanted = new Set<string>();
    for (const v of versions) {
      for (const t of v.triggers as TriggerSpec[]) {
        if (!('cron' in t)) continue;
        const key = `${t.cron}|${t.timezone ?? 'UTC'}`;
        wanted.add(key);
        if (!this.crons.has(key)) this.crons.set(key, new Cron(t.cron, { timezone: t.timezone ?? 'UTC', unref: true, catch: true }, () => this.wake()));
      }
    }
    for (const [key, job] of this.crons) if (!wanted.has(key)) { job.stop(); this.crons.delete(key); }
  }

  // ------------------------------------------------------------------ liveness

  private async followCancellations(emit: (d: Omit<Decision, 'time'>) => void): Promise<void> {
    for (const a of this.active.values()) {
      if (a.abort.signal.aborted) continue;
      const t = await this.s.triggers.getTrigger(a.trigger.id);
      if (t.status === 'cancelled') {
        this.abort(a, t.detail ?? 'its trigger record was cancelled');
        emit({ action: 'cancelled', pipeline: t.pipeline, trigger: t.id, detail: `stopping the run: ${a.reason}` });
      }
    }
  }

  private async failAbandoned(emit: (d: Omit<Decision, 'time'>) => void): Promise<void> {
    const limit = Date.now() - this.leaseMs;
    for (const t of await this.s.triggers.listTriggers({ status: 'running', limit: 1000 })) {
      if (t.claimedBy === this.id || (t.heartbeatAt ?? t.claimedAt ?? 0) >= limit) continue;
      const detail = `abandoned: scheduler ${t.claimedBy} gave no sign of life since ${new Date(t.heartbeatAt ?? t.claimedAt ?? 0).toISOString()}`;
      const done = await this.s.triggers.updateTrigger(t.id, { status: 'failed', detail, expectStatus: ['running'] }, this.who);
      if (done) emit({ action: 'abandoned', pipeline: t.pipeline, trigger: t.id, detail });
    }
  }

  // ------------------------------------------------------------------ dispatch

  private async dispatch(versions: PipelineVersion[], deployments: Map<string, PipelineDeployment>, emit: (d: Omit<Decision, 'time'>) => void): Promise<void> {
    const byName = new Map(versions.map((v) => [v.name, v]));
    const pending = new Map<string, TriggerRecord[]>();
    for (const t of await this.s.triggers.listTriggers({ status: 'pending', oldestFirst: true, limit: 1000 })) {
      pending.set(t.pipeline, [...(pending.get(t.pipeline) ?? []), t]);
    }
    const settle = async (t: TriggerRecord, status: TriggerStatus, detail: string) => {
      if (await this.s.triggers.updateTrigger(t.id, { status, detail, expectStatus: ['pending'] }, this.who)) {
        emit({ action: status as DecisionAction, pipeline: t.pipeline, trigger: t.id, detail });
      }
    };
    for (const [pipeline, all] of pending) {
      const v = byName.get(pipeline);
      const d = deployments.get(pipeline);
      if (!v) {
        const why = d ? `pipeline '${pipeline}' is undeployed (trellis pipelines rollback ${pipeline} --to <version> puts a version back)` : `pipeline '${pipeline}' has no deployed version`;
        for (const t of all) await settle(t, d ? 'skipped' : 'failed', why);
        continue;
      }
      // Paused: what its own triggers recorded is skipped; a run asked for through the API still runs.
      const list = d?.paused ? all.filter((t) => t.kind === 'api') : all;
      for (const t of all) if (!list.includes(t)) await settle(t, 'skipped', `the triggers of '${pipeline}' are paused (trellis pipelines resume-triggers ${pipeline})`);
      if (!list.length) continue;
      const running = await this.s.triggers.listTriggers({ pipeline, status: 'running', limit: 100 });
      if (v.concurrency === 'cancel-previous') {
        const newest = list[list.length - 1]!;
        for (const t of list.slice(0, -1)) await settle(t, 'cancelled', `superseded by trigger #${newest.id} (concurrency: cancel-previous)`);
        for (const r of running) await this.cancelRunning(r, `replaced by trigger #${newest.id} (concurrency: cancel-previous)`, emit);
        if (this.active.size >= this.maxRuns) continue;
        const [claimed] = await this.s.triggers.claimTriggers({ claimer: this.id, ids: [newest.id] }, this.who);
        if (claimed) await this.launch(claimed, emit);
        continue;
      }
      if (running.length) {
        const busy = `a run of '${pipeline}' is in progress (trigger #${running[0]!.id})`;
        if (v.concurrency === 'skip') {
          for (const t of list) await settle(t, 'skipped', `${busy} (concurrency: skip)`);
        } else {
          for (const t of list.filter((x) => !this.announced.has(x.id))) {
            this.announced.add(t.id);
            emit({ action: 'waiting', pipeline, trigger: t.id, detail: `${busy}; queued` });
          }
        }
        continue;
      }
      if (this.active.size >= this.maxRuns) continue;
      const [claimed] = await this.s.triggers.claimTriggers({ claimer: this.id, pipeline, exclusive: true, limit: 1 }, this.who);
      if (!claimed) continue;
      await this.launch(claimed, emit);
      if (v.concurrency === 'skip') {
        for (const t of list) if (t.id !== claimed.id) await settle(t, 'skipped', `trigger #${claimed.id} started a run of '${pipeline}' (concurrency: skip)`);
      }
    }
  }

  private async cancelRunning(r: TriggerRecord, why: string, emit: (d: Omit<Decision, 'time'>) => void): Promise<void> {
    const done = await this.s.triggers.updateTrigger(r.id, { status: 'cancelled', detail: why, expectStatus: ['running'] }, this.who);
    if (!done) return;
    emit({ action: 'cancelled', pipeline: r.pipeline, trigger: r.id, detail: why });
    // A run of this scheduler stops now; another scheduler's stops on its next pass, when it sees the record.
    const mine = this.active.get(r.id);
    if (mine) this.abort(mine, why);
  }

  private abort(a: ActiveRun, reason: string): void {
    if (a.abort.signal.aborted) return;
    a.reason = reason;
    a.abort.abort(new Error(reason));
  }

  // ------------------------------------------------------------------ runs

  /** Starts the run of a claimed record; resolves once it has started (its package fetched and its record updated) or failed to. */
  private async launch(t: TriggerRecord, emit: (d: Omit<Decision, 'time'>) => void): Promise<void> {
    this.announced.delete(t.id);
    let started!: () => void;
    const isStarted = new Promise<void>((res) => { started = res; });
    const a: ActiveRun = { trigger: t, abort: new AbortController(), done: Promise.resolve() };
    this.active.set(t.id, a);
    this.heartbeat ??= setInterval(() => {
      void this.s.triggers.touchTriggers(this.id).catch(() => undefined);
    }, Math.max(100, Math.floor(this.leaseMs / 4)));
    this.heartbeat.unref();
    a.done = this.execute(a, emit, started).finally(() => {
      started();
      this.active.delete(t.id);
      if (!this.active.size) {
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
      }
      // The pipeline may have records waiting for this run to end.
      this.wake();
    });
    await isStarted;
  }

  private async execute(a: ActiveRun, emit: (d: Omit<Decision, 'time'>) => void, started: () => void): Promise<void> {
    const t = a.trigger;
    let patch: { status: TriggerStatus; detail: string; runId?: string; version?: number };
    try {
      const { version: v } = await activeVersion(this.s, t.pipeline);
      if (!(await this.s.triggers.updateTrigger(t.id, { version: v.version, detail: `running version ${v.version}`, expectStatus: ['running'] }, this.who))) {
        // Cancelled (or failed as abandoned) between the claim and now: nothing to run.
        const now = await this.s.triggers.getTrigger(t.id);
        emit({ action: now.status as DecisionAction, pipeline: t.pipeline, trigger: t.id, detail: `not started: ${now.detail ?? `the record is ${now.status}`}` });
        return;
      }
      emit({ action: 'started', pipeline: t.pipeline, trigger: t.id, detail: `version ${v.version} (${t.kind}: ${t.reason})` });
      const { ir, baseDir } = await materialise(this.s, v, this.cacheDir);
      if (this.o.authorizeUserCode && ir.components.some((c) => c.kind !== 'builtin')) {
        await this.o.authorizeUserCode({ pipeline: v.name, version: v.version, deployer: v.createdBy });
      }
      const params = coerceParams(ir, t.params);
      const engine = new PipelineEngine(this.s, { ...this.o.engine, who: this.who });
      // A deployed pipeline reads files only from its package and the administrator's data roots.
      const running = engine.run(ir, { params, baseDir, signal: a.abort.signal, dataRoots: [baseDir, ...this.dataRoots], ...(this.o.runAs ? { runAs: this.o.runAs } : {}) });
      started();
      const r = await running;
      const detail = r.status === 'FINISHED' ? `run ${r.runId} finished (version ${v.version})`
        : r.status === 'KILLED' ? `run ${r.runId} was cancelled: ${a.reason ?? 'cancelled'}`
          : `run ${r.runId} failed${r.failed ? ` at step '${r.failed.step}': ${r.failed.error}` : ''}`;
      patch = { status: FINAL[r.status], detail, runId: r.runId, version: v.version };
    } catch (e) {
      patch = { status: a.abort.signal.aborted ? 'cancelled' : 'failed', detail: errorText(e) };
    }
    // The run's outcome is the truth, even over a record marked cancelled or abandoned meanwhile.
    const done = await this.s.triggers.updateTrigger(t.id, { ...patch, detail: clip(patch.detail), expectStatus: ['running', 'cancelled', 'failed'] }, this.who)
      .catch((e: unknown) => emit({ action: 'error', pipeline: t.pipeline, trigger: t.id, detail: `could not record the outcome: ${errorText(e)}` }));
    if (done) emit({ action: patch.status as DecisionAction, pipeline: t.pipeline, trigger: t.id, runId: patch.runId, detail: patch.detail });
  }
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
const clip = (s: string) => (s.length > 4000 ? `${s.slice(0, 4000)}…` : s);
