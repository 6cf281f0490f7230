/**
 * The A/B report of a deployment over a window of its prediction log: per route (primary, canary,
 * A/B arm, shadow) the requests, error rate, latency percentiles and — where labels came back as
 * feedback — the model metric (accuracy for classifiers, RMSE for regressors); the sample-ratio
 * check of the split against the configured shares; and mSPRT sequential tests of each challenger
 * against its control (the canary against the primary, every arm against the first) on the metric
 * and on the error rate, whose p-values and intervals stay valid however often the report is run.
 * Requests and errors per minute per route come with it for plots.
 */
import { bernoulliSummary, sampleRatioMismatch, sequentialTest, summarize, type SequentialTestResult, type SrmResult } from '../numeric/stats/ab.js';
import type { Deployment } from '../store/ports/deployments.js';
import type { LabelledEntry, PredictionLog, RouteStats } from '../store/ports/predictions.js';

export interface RouteReport {
  /** `primary`, `canary`, `arm:<name>` or `shadow`, as the log names it. */
  route: string;
  /** The model versions that answered on this route in the window (`name/version`). */
  models: string[];
  /** The configured share in percent; absent for a shadow or a route no longer configured. */
  share?: number;
  requests: number;
  errors: number;
  errorRate: number;
  /** Latency percentiles in ms (linear interpolation); null without requests. */
  latency: { p50: number; p95: number; p99: number } | null;
  /** Rows with a label. */
  labelled: number;
  /** The model metric over the labelled rows, when there are. */
  metric?: { name: 'accuracy' | 'rmse'; value: number };
}

export interface TestReport {
  /** `accuracy`, `squared_error` (the test of RMSE is on the mean squared error) or `error_rate`. */
  on: 'accuracy' | 'squared_error' | 'error_rate';
  /** Whether a higher value is the better one. */
  higherIsBetter: boolean;
  /** The better route when the difference is significant. */
  better?: string;
  test: SequentialTestResult;
}

export interface Comparison {
  control: string;
  treatment: string;
  metric?: TestReport;
  errorRate: TestReport;
}

export interface AbSeries {
  /** Bucket width in ms: a minute, or a whole number of minutes when the window holds more than MAX_BUCKETS of them. */
  bucketMs: number;
  /** Start of the first bucket (ms since the epoch); bucket i starts at start + i·bucketMs. */
  start: number;
  routes: { route: string; requests: number[]; errors: number[] }[];
}

export interface AbReport {
  endpoint: string;
  since: number;
  until: number;
  /** `ab` (sticky arms), `canary` (primary and canary), `single` (one route answers). */
  kind: 'ab' | 'canary' | 'single';
  alpha: number;
  routes: RouteReport[];
  /** Null when fewer than two routes split the traffic or none was asked anything. */
  srm: (SrmResult & { routes: string[] }) | null;
  comparisons: Comparison[];
  /** What a reader should know about the figures (a split that changed within the window, too few labels, …). */
  notes: string[];
  series: AbSeries;
}

export const MAX_BUCKETS = 1440;
const MINUTE = 60_000;
const PAGE = 10_000;

const routeLabel = (r: Deployment['routes'][number]) => (r.role === 'arm' ? `arm:${r.arm}` : r.role);

/** The p-th percentile (0–100) of ascending `sorted`, interpolating linearly (numpy's default). */
export function percentile(sorted: readonly number[], p: number): number {
  const pos = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Whether the labelled rows are a classifier's: class names, or any label or prediction that is a string. */
function isClassifier(stats: RouteStats[]): boolean {
  return stats.some((s) => s.classes !== undefined || s.labelled.some((l) => typeof l.prediction === 'string' || typeof l.label === 'string'));
}

interface Merged {
  route: string;
  models: string[];
  requests: number;
  errors: number;
  latencies: number[];
  labelled: RouteStats['labelled'];
}

/** One entry per route: the versions that answered on it merged. */
function mergeRoutes(stats: RouteStats[]): Map<string, Merged> {
  const by = new Map<string, Merged>();
  for (const s of stats) {
    let m = by.get(s.route);
    if (!m) by.set(s.route, m = { route: s.route, models: [], requests: 0, errors: 0, latencies: [], labelled: [] });
    m.models.push(`${s.model}/${s.version}`);
    m.requests += s.requests;
    m.errors += s.errors;
    m.latencies.push(...s.latencies);
    m.labelled.push(...s.labelled);
  }
  for (const m of by.values()) m.latencies.sort((a, b) => a - b);
  return by;
}

function testReport(on: TestReport['on'], control: string, treatment: string, test: SequentialTestResult): TestReport {
  const higherIsBetter = on === 'accuracy';
  const r: TestReport = { on, higherIsBetter, test };
  if (test.decision === 'significant') r.better = (test.difference > 0) === higherIsBetter ? treatment : control;
  return r;
}

/** The report from the window's per-route figures (`stats`) and its time series; `alpha` is the level of each comparison before splitting over the challengers. */
export function buildAbReport(
  deployment: Pick<Deployment, 'name' | 'routes' | 'updatedAt'>, stats: RouteStats[], series: AbSeries,
  window: { since: number; until: number }, options: { alpha?: number } = {},
): AbReport {
  const alpha = options.alpha ?? 0.05;
  const merged = mergeRoutes(stats);
  const configured = deployment.routes.map((r) => ({ label: routeLabel(r), role: r.role, share: r.share }));
  const classifier = isClassifier(stats);
  const notes: string[] = [];

  // Configured routes first in their order, then routes seen in the window but no longer configured.
  const order = [...configured.map((c) => c.label), ...[...merged.keys()].filter((k) => !configured.some((c) => c.label === k)).sort()];
  const routes: RouteReport[] = order.map((route) => {
    const m = merged.get(route);
    const conf = configured.find((c) => c.label === route);
    const r: RouteReport = {
      route, models: m?.models ?? [], requests: m?.requests ?? 0, errors: m?.errors ?? 0, errorRate: m && m.requests > 0 ? m.errors / m.requests : 0,
      latency: m && m.latencies.length > 0 ? { p50: percentile(m.latencies, 50), p95: percentile(m.latencies, 95), p99: percentile(m.latencies, 99) } : null,
      labelled: m?.labelled.length ?? 0,
    };
    if (conf && conf.role !== 'shadow') r.share = conf.share;
    if (m && m.labelled.length > 0) {
      r.metric = classifier
        ? { name: 'accuracy', value: m.labelled.filter((l) => String(l.prediction) === String(l.label)).length / m.labelled.length }
        : { name: 'rmse', value: Math.sqrt(squaredErrors(m.labelled).reduce((a, b) => a + b, 0) / m.labelled.length) };
    }
    return r;
  });

  const split = configured.filter((c) => c.role !== 'shadow' && c.share > 0);
  const kind: AbReport['kind'] = split.some((c) => c.role === 'arm') ? 'ab' : split.some((c) => c.role === 'canary') ? 'canary' : 'single';
  let srm: AbReport['srm'] = null;
  const counts = split.map((c) => merged.get(c.label)?.requests ?? 0);
  if (split.length >= 2 && counts.some((n) => n > 0)) {
    srm = { ...sampleRatioMismatch(counts, split.map((c) => c.share)), routes: split.map((c) => c.label) };
    if (srm.mismatch) notes.push(`Sample ratio mismatch (p = ${srm.pValue.toPrecision(3)}): the routes did not get their configured shares, so their comparison is not to be trusted until the split is fixed.`);
    if (srm.lowCounts) notes.push('Some route expected fewer than 5 requests: the sample-ratio check is rough.');
  }
  if (deployment.updatedAt > window.since) {
    notes.push(`The deployment last changed at ${new Date(deployment.updatedAt).toISOString()}, after the window began: the sample-ratio check compares against the current shares, which may not be those the window's traffic was split by.`);
  }

  const control = split[0]?.label;
  const challengers = kind === 'single' ? [] : split.slice(1).map((c) => c.label);
  const perTest = challengers.length > 1 ? alpha / challengers.length : alpha;
  if (challengers.length > 1) notes.push(`${challengers.length} challengers against ${control}: each test is at level ${perTest.toPrecision(3)} (alpha ${alpha} split evenly).`);
  const comparisons: Comparison[] = challengers.map((treatment) => {
    const a = merged.get(control!);
    const b = merged.get(treatment);
    const errorRate = testReport('error_rate', control!, treatment,
      sequentialTest(bernoulliSummary(a?.errors ?? 0, a?.requests ?? 0), bernoulliSummary(b?.errors ?? 0, b?.requests ?? 0), { alpha: perTest }));
    const c: Comparison = { control: control!, treatment, errorRate };
    if ((a?.labelled.length ?? 0) > 0 || (b?.labelled.length ?? 0) > 0) {
      const la = a?.labelled ?? [];
      const lb = b?.labelled ?? [];
      c.metric = classifier
        ? testReport('accuracy', control!, treatment, sequentialTest(correct(la), correct(lb), { alpha: perTest }))
        : testReport('squared_error', control!, treatment, sequentialTest(summarize(squaredErrors(la)), summarize(squaredErrors(lb)), { alpha: perTest }));
    }
    return c;
  });
  if (comparisons.length > 0 && comparisons.every((c) => c.metric === undefined)) notes.push('No labels yet: the routes are compared on their error rate only (send labels with `POST /v2/models/<endpoint>/feedback`).');
  return { endpoint: deployment.name, since: window.since, until: window.until, kind, alpha, routes, srm, comparisons, notes, series };
}

function correct(labelled: RouteStats['labelled']) {
  return bernoulliSummary(labelled.filter((l) => String(l.prediction) === String(l.label)).length, labelled.length);
}

function squaredErrors(labelled: RouteStats['labelled']): number[] {
  return labelled.map((l) => (Number(l.prediction) - Number(l.label)) ** 2).filter(Number.isFinite);
}

/** Requests and errors per bucket per route of time-ordered entries, from the first entry's bucket to the last's. */
export function timeSeries(entries: readonly Pick<LabelledEntry, 'time' | 'route' | 'error'>[], window: { since: number; until: number }): AbSeries {
  const minutes = Math.max(1, Math.ceil((window.until - window.since) / MINUTE));
  const bucketMs = MINUTE * Math.max(1, Math.ceil(minutes / MAX_BUCKETS));
  if (entries.length === 0) return { bucketMs, start: Math.floor(window.since / bucketMs) * bucketMs, routes: [] };
  const start = Math.floor(entries[0]!.time / bucketMs) * bucketMs;
  const n = Math.floor((entries[entries.length - 1]!.time - start) / bucketMs) + 1;
  const by = new Map<string, { route: string; requests: number[]; errors: number[] }>();
  for (const e of entries) {
    let s = by.get(e.route);
    if (!s) by.set(e.route, s = { route: e.route, requests: new Array<number>(n).fill(0), errors: new Array<number>(n).fill(0) });
    const i = Math.floor((e.time - start) / bucketMs);
    s.requests[i]!++;
    if (e.error !== undefined) s.errors[i]!++;
  }
  return { bucketMs, start, routes: [...by.values()].sort((a, b) => a.route.localeCompare(b.route)) };
}

function rekey(v: unknown, key: (k: string) => string): unknown {
  if (Array.isArray(v)) return v.map((x) => rekey(x, key));
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [key(k), rekey(x, key)]));
}

/** The report as the REST route and `--json` give it: snake_case keys, like every Trellis body. */
export function abReportJson(r: AbReport): Record<string, unknown> {
  return rekey(r, (k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)) as Record<string, unknown>;
}

/** The report back from its JSON (a server's answer). */
export function abReportFromJson(o: unknown): AbReport {
  return rekey(o, (k) => k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())) as AbReport;
}

/** Reads the window from the log and builds the report. */
export async function abReport(
  log: Pick<PredictionLog, 'stats' | 'query'>, deployment: Pick<Deployment, 'name' | 'routes' | 'updatedAt'>,
  window: { since: number; until: number }, options: { alpha?: number } = {},
): Promise<AbReport> {
  // Only what the series needs is kept of each entry (not its inputs and outputs).
  const entries: Pick<LabelledEntry, 'time' | 'route' | 'error'>[] = [];
  let after: { time: number; requestId: string; route: string } | undefined;
  for (;;) {
    const page = await log.query({ endpoint: deployment.name, since: window.since, until: window.until, limit: PAGE, ...(after ? { after } : {}) });
    for (const e of page) entries.push({ time: e.time, route: e.route, ...(e.error !== undefined ? { error: e.error } : {}) });
    if (page.length < PAGE) break;
    const last = page[page.length - 1]!;
    after = { time: last.time, requestId: last.requestId, route: last.route };
  }
  const stats = await log.stats(deployment.name, window.since, window.until);
  return buildAbReport(deployment, stats, timeSeries(entries, window), window, options);
}
