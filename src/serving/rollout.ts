/**
 * Progressive rollout: the canary's share goes through steps (5, 25, 50, 100 %), each held until
 * its service-level checks pass on enough requests and for long enough; a breach rolls it back at
 * once. The decision is a pure function of the rollout and the prediction log's figures for the
 * step's window ({@link decide}); the controller ({@link RolloutController}) applies it, one leader
 * among the replicas, every decision an audit event with the numbers behind it.
 */
import { invalid } from '../core/errors.js';
import type { Actor } from '../store/ports/common.js';
import type { Deployment, Rollout, SloCheck } from '../store/ports/deployments.js';
import type { RouteStats } from '../store/ports/predictions.js';

const METRICS: readonly SloCheck['metric'][] = ['error_rate', 'p50_ms', 'p95_ms', 'p99_ms', 'rmse', 'mae', 'accuracy', 'error'];
/** Metrics computed from labels (feedback); the others from every request. */
const LABELLED = new Set<SloCheck['metric']>(['rmse', 'mae', 'accuracy', 'error']);

/** `error_rate<0.01, p99_ms<50, rmse<=1.05*primary` → checks; a bad clause is named. */
export function parseSlo(text: string): SloCheck[] {
  const clauses = text.split(',').map((c) => c.trim()).filter(Boolean);
  if (!clauses.length) throw invalid('--slo needs at least one check, e.g. "error_rate<0.01, p99_ms<50"');
  return clauses.map((c) => {
    const m = /^([a-z0-9_]+)\s*(<=|>=|<|>)\s*(\d+(?:\.\d+)?(?:e-?\d+)?)\s*(\*\s*primary)?$/i.exec(c);
    if (!m) throw invalid(`SLO check '${c}' is not <metric><op><number>[*primary], e.g. error_rate<0.01, p99_ms<50 or rmse<=1.05*primary`);
    const metric = m[1]!.toLowerCase() as SloCheck['metric'];
    if (!METRICS.includes(metric)) throw invalid(`SLO check '${c}': unknown metric '${m[1]}'; use one of ${METRICS.join(', ')}`);
    return { metric, op: m[2] as SloCheck['op'], value: Number(m[3]), relative: m[4] !== undefined };
  });
}

export function sloText(checks: readonly SloCheck[]): string {
  return checks.map((c) => `${c.metric}${c.op}${c.value}${c.relative ? '*primary' : ''}`).join(', ');
}

/** Steps as typed: `5,25,50,100`: ascending percentages ending at 100. */
export function parseSteps(text: string): number[] {
  const steps = text.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    if (!/^\d+(\.\d{1,2})?$/.test(s) || Number(s) <= 0 || Number(s) > 100) throw invalid(`--steps '${text}': '${s}' is not a percentage above 0 and at most 100`);
    return Number(s);
  });
  if (!steps.length) throw invalid('--steps needs at least one step, e.g. 5,25,50,100');
  if (steps.some((s, i) => i > 0 && s <= steps[i - 1]!)) throw invalid(`--steps '${text}' must go up, e.g. 5,25,50,100`);
  if (steps[steps.length - 1] !== 100) steps.push(100);
  if (steps.length < 2) throw invalid('--steps needs a step below 100 before the promotion, e.g. 10,100');
  return steps;
}

function quantile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** A route's figure for a metric, with the sample it rests on. */
export function measure(s: RouteStats | undefined, metric: SloCheck['metric']): { value: number; n: number } {
  if (!s) return { value: Number.NaN, n: 0 };
  switch (metric) {
    case 'error_rate': return { value: s.requests ? s.errors / s.requests : Number.NaN, n: s.requests };
    case 'p50_ms': return { value: quantile(s.latencies, 0.5), n: s.latencies.length };
    case 'p95_ms': return { value: quantile(s.latencies, 0.95), n: s.latencies.length };
    case 'p99_ms': return { value: quantile(s.latencies, 0.99), n: s.latencies.length };
    default: break;
  }
  const pairs = s.labelled;
  if (!pairs.length) return { value: Number.NaN, n: 0 };
  if (metric === 'accuracy' || metric === 'error') {
    const right = pairs.filter((p) => String(p.prediction) === String(p.label)).length / pairs.length;
    return { value: metric === 'accuracy' ? right : 1 - right, n: pairs.length };
  }
  const num = pairs.map((p) => [Number(p.prediction), Number(p.label)] as const).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
  if (!num.length) return { value: Number.NaN, n: 0 };
  const err = num.map(([a, b]) => a - b);
  return metric === 'rmse'
    ? { value: Math.sqrt(err.reduce((t, e) => t + e * e, 0) / err.length), n: err.length }
    : { value: err.reduce((t, e) => t + Math.abs(e), 0) / err.length, n: err.length };
}

export interface CheckResult {
  check: string;
  canary: number;
  primary?: number;
  threshold?: number;
  n: number;
  primaryN?: number;
  /** `pass`, `breach`, or `pending` (too few samples to judge). */
  status: 'pass' | 'breach' | 'pending';
}

export interface Decision {
  action: 'advance' | 'promote' | 'rollback' | 'hold';
  reason: string;
  step: number;
  share: number;
  checks: CheckResult[];
  /** Canary requests in the step's window, and how long the step has run. */
  requests: number;
  heldMs: number;
}

const compare = (a: number, op: SloCheck['op'], b: number): boolean => (op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b);
const round = (x: number) => (Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : x);

/** What the rollout should do now, from the figures of its step's window. */
export function decide(r: Rollout, stats: readonly RouteStats[], now: number): Decision {
  const canary = stats.find((s) => s.route === 'canary');
  const primary = stats.find((s) => s.route === 'primary');
  const share = r.steps[r.step]!;
  const heldMs = now - r.stepStartedAt;
  const requests = canary?.requests ?? 0;
  const checks = r.slo.map((c): CheckResult => {
    const min = LABELLED.has(c.metric) ? r.minLabels : r.minRequests;
    const m = measure(canary, c.metric);
    const text = `${c.metric}${c.op}${c.value}${c.relative ? '*primary' : ''}`;
    if (m.n < min || !Number.isFinite(m.value)) return { check: text, canary: round(m.value), n: m.n, status: 'pending' };
    let threshold = c.value;
    const res: CheckResult = { check: text, canary: round(m.value), n: m.n, status: 'pass' };
    if (c.relative) {
      const p = measure(primary, c.metric);
      res.primary = round(p.value);
      res.primaryN = p.n;
      if (p.n < min || !Number.isFinite(p.value)) return { ...res, status: 'pending' };
      threshold = c.value * p.value;
    }
    res.threshold = round(threshold);
    res.status = compare(m.value, c.op, threshold) ? 'pass' : 'breach';
    return res;
  });
  const base = { step: r.step, share, checks, requests, heldMs };
  const breach = checks.find((c) => c.status === 'breach');
  if (breach) {
    return { ...base, action: 'rollback', reason: `${breach.check} breached: the canary has ${breach.canary}${breach.threshold !== undefined ? ` against ${breach.threshold}` : ''} over ${breach.n} ${LABELLED.has(breach.check.replace(/[<>=].*/, '') as SloCheck['metric']) ? 'labelled rows' : 'requests'}` };
  }
  const pending = checks.filter((c) => c.status === 'pending');
  if (pending.length) return { ...base, action: 'hold', reason: `waiting for samples: ${pending.map((c) => `${c.check} (${c.n} of ${LABELLED.has(c.check.replace(/[<>=].*/, '') as SloCheck['metric']) ? r.minLabels : r.minRequests})`).join(', ')}` };
  if (heldMs < r.holdMs) return { ...base, action: 'hold', reason: `checks pass; holding step ${r.step + 1} (${share}%) for ${Math.ceil((r.holdMs - heldMs) / 1000)} s more` };
  const last = r.step + 1 >= r.steps.length - 1;
  return { ...base, action: last ? 'promote' : 'advance', reason: last ? `checks passed at every step: promoting ${r.model}` : `checks passed at ${share}% for ${Math.round(heldMs / 1000)} s: advancing to ${r.steps[r.step + 1]}%` };
}

/** What the controller needs: the deployments (with the changes a decision makes) and the log's figures. */
export interface RolloutPorts {
  list(): Promise<Deployment[]>;
  stats(endpoint: string, since: number): Promise<RouteStats[]>;
  apply(d: Deployment, decision: Decision, who: Actor): Promise<void>;
  record(d: Deployment, decision: Decision, who: Actor): Promise<void>;
  acquireLease(lease: string, holder: string, ttlMs: number): Promise<boolean>;
}

export interface RolloutControllerOptions {
  ports: RolloutPorts;
  /** This replica's name in the lease. */
  holder: string;
  intervalMs?: number;
  leaseMs?: number;
  now?: () => number;
  onDecision?: (endpoint: string, d: Decision) => void;
  onError?: (e: Error) => void;
}

export const PLATFORM_ACTOR: Actor = { actor: 'trellis' };
const LEASE = 'rollout-controller';

/**
 * Runs every rollout of the store, on the one replica holding the controller lease. Stateless
 * beyond the lease: a restarted controller (or another replica taking the lease over) picks the
 * rollouts up where the store says they are. A hold is recorded when its reason changes, not on
 * every tick.
 */
export class RolloutController {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private readonly lastHold = new Map<string, string>();

  constructor(private readonly o: RolloutControllerOptions) {}

  start(): void {
    const loop = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => { this.running = this.tick().then(() => undefined, (e: unknown) => this.o.onError?.(e as Error)).finally(loop); }, this.o.intervalMs ?? 2000);
      this.timer.unref();
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One round: the decisions taken (none when another replica leads). */
  async tick(): Promise<{ endpoint: string; decision: Decision }[]> {
    const now = (this.o.now ?? Date.now)();
    if (!(await this.o.ports.acquireLease(LEASE, this.o.holder, this.o.leaseMs ?? 15_000))) return [];
    const out: { endpoint: string; decision: Decision }[] = [];
    for (const d of await this.o.ports.list()) {
      const r = d.rollout;
      if (!r) continue;
      const decision = decide(r, await this.o.ports.stats(d.name, r.stepStartedAt), now);
      const key = `${d.name}\u0000${r.startedAt}\u0000${r.step}`;
      if (decision.action === 'hold') {
        const reasonKind = decision.reason.replace(/\d+/g, '#');
        if (this.lastHold.get(key) === reasonKind) continue;
        this.lastHold.set(key, reasonKind);
        await this.o.ports.record(d, decision, PLATFORM_ACTOR);
      } else {
        await this.o.ports.apply(d, decision, PLATFORM_ACTOR);
      }
      out.push({ endpoint: d.name, decision });
      this.o.onDecision?.(d.name, decision);
    }
    return out;
  }
}
