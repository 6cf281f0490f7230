/**
 * The serving engine behind `trellis serve`: it keeps every deployment of the store (or the named
 * ones) loaded and routes each request to one of its routes.
 *
 * - **Replicas are stateless.** The engine reads deployments and aliases from the store and polls
 *   them (every 500 ms by default), so any number of processes serve the same store and follow a
 *   change within a second. Nothing about traffic lives in the process but the loaded models.
 * - **Hot swap.** When a deployment or an alias it names changes, the new versions are loaded
 *   beside the old ones — verified against their recorded sha256, parsed, checked and decoded in
 *   the engine's loading worker thread (model-loader.ts), so requests keep being answered
 *   meanwhile — and only then is the endpoint's route table replaced, in one assignment. A request
 *   holds the route it was given, so requests in flight finish on the version they started on; the
 *   old model is dropped with its last user. A version that fails to load (changed bytes, a bad
 *   document) leaves the endpoint on the versions it had, and the failure is reported.
 * - **Routing.** A canary takes its share of the requests at random; A/B arms are chosen by a hash
 *   of the sticky key (a header or a field of the first row), so a key keeps its arm on every
 *   replica and across restarts; a shadow gets a copy of each request, answered off the request
 *   path and never returned.
 */
import { isTrellisError } from '../core/errors.js';
import type { Deployment, DeploymentRoute } from '../store/ports/deployments.js';
import type { ModelVersion } from '../store/ports/registry.js';
import { inSpan } from './tracing.js';
import { ModelLoader } from './model-loader.js';
import { loadVersion, type LoadedModel, type ReadModel } from './model-runtime.js';
import { tensorMetadata } from './oip/codec.js';
import { ServingError, type EndpointModel, type InferRequest, type InferResult, type InferenceService } from './types.js';

/** Where the engine reads what to serve: the deployment service and the registry, or a test's fakes. */
export interface ServingSource {
  list(): Promise<Deployment[]>;
  resolve(ref: string): Promise<ModelVersion>;
  read: ReadModel;
  /** Pushes changes of deployments and aliases (PostgreSQL LISTEN/NOTIFY); undefined: poll only. */
  watch?(onChange: () => void): Promise<(() => Promise<void>) | undefined>;
}

/** Checks the caller of an endpoint; returns the principal's name, or throws a ServingError (unauthenticated, forbidden). */
export type Authorize = (req: { authorization?: string; remoteAddress?: string }, d: Deployment) => Promise<string>;

export type EngineEvent =
  | { kind: 'loaded'; endpoint: string; model: string; sha256: string; loadMs: number; bytes: number }
  | { kind: 'load_failed'; endpoint: string; model: string; error: string }
  | { kind: 'switched'; endpoint: string; revision: number; routes: string[] }
  | { kind: 'removed'; endpoint: string }
  | { kind: 'refresh_failed'; error: string }
  | { kind: 'shadow_failed'; endpoint: string; model: string; error: string };

/** One answered (or failed) request, for the prediction log and the metrics. */
export interface Served {
  requestId: string;
  endpoint: string;
  model: string;
  version: string;
  route: string;
  /** Shadow answers are reported too, with `shadow: true`. */
  shadow: boolean;
  records: Record<string, unknown>[];
  result?: InferResult;
  error?: ServingError;
  latencyMs: number;
  time: number;
}

export interface EngineOptions {
  source: ServingSource;
  /** Serve only these endpoints (names as stored, compared case-insensitively); default every deployment. */
  endpoints?: readonly string[];
  /** Undefined: auth off, every caller may invoke every endpoint. */
  authorize?: Authorize;
  pollMs?: number;
  serverName?: string;
  serverVersion?: string;
  onEvent?: (e: EngineEvent) => void;
  /** Called after each answer (primary and shadow), off the response's path. */
  onServed?: (s: Served) => void;
  random?: () => number;
}

/** A route with its model loaded. */
interface LiveRoute {
  route: DeploymentRoute;
  label: string;
  loaded: LoadedModel;
}

interface ActiveEndpoint {
  deployment: Deployment;
  /** Revision plus the versions the references resolved to: a change of either is a change. */
  key: string;
  serving: LiveRoute[];
  shadows: LiveRoute[];
}

const labelOf = (r: DeploymentRoute): string => (r.role === 'arm' ? `arm:${r.arm}` : r.role);
const fold = (s: string): string => s.normalize('NFC').toLowerCase();

/** FNV-1a over UTF-16 code units: a stable hash, the same on every replica, every run. */
export function stickyHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 0x1_0000_0000;
}

export class ServingEngine implements InferenceService {
  private active = new Map<string, ActiveEndpoint>();
  /** Endpoints whose last load failed and that have nothing to serve: why. */
  private failed = new Map<string, string>();
  private cache = new Map<string, Promise<LoadedModel>>();
  /** The loading worker, started at the first load and stopped with the engine. */
  private readonly loader = new ModelLoader();
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  private started = false;
  private stopped = false;
  private readonly only?: Set<string>;
  private readonly random: () => number;

  constructor(private readonly opts: EngineOptions) {
    this.only = opts.endpoints?.length ? new Set(opts.endpoints.map(fold)) : undefined;
    this.random = opts.random ?? Math.random;
  }

  /**
   * Loads every deployment once, then follows changes: at once when the store pushes them
   * (PostgreSQL), and by polling — every 500 ms, or every 2 s as a safety net behind pushes.
   * Resolves when the first load is done.
   */
  async start(): Promise<void> {
    this.unwatch = await this.opts.source.watch?.(() => void this.refresh());
    await this.refresh();
    this.started = true;
    const every = this.opts.pollMs ?? (this.unwatch ? 2000 : 500);
    const tick = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.refresh().finally(tick), every);
      this.timer.unref();
    };
    tick();
  }

  /** Whether changes are pushed by the store rather than only polled. */
  get watching(): boolean {
    return this.unwatch !== undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.unwatch?.();
    await this.refreshing;
    await this.loader.close();
  }

  /**
   * Reads the deployments and swaps in every endpoint that changed. Never throws: failures are
   * events. A call during a refresh runs one more after it, so a change is never missed.
   */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again ??= this.refreshing.then(() => {
        this.again = undefined;
        return this.refresh();
      });
      return this.again;
    }
    this.refreshing = this.doRefresh().finally(() => { this.refreshing = undefined; });
    return this.refreshing;
  }

  private again?: Promise<void>;
  private unwatch?: () => Promise<void>;

  private async doRefresh(): Promise<void> {
    let all: Deployment[];
    try {
      all = await this.opts.source.list();
    } catch (e) {
      this.emit({ kind: 'refresh_failed', error: (e as Error).message });
      return;
    }
    const wanted = all.filter((d) => !this.only || this.only.has(fold(d.name)));
    const seen = new Set<string>();
    await Promise.all(wanted.map(async (d) => {
      const id = fold(d.name);
      seen.add(id);
      await this.refreshEndpoint(id, d);
    }));
    for (const [id, a] of this.active) {
      if (!seen.has(id)) {
        this.active.delete(id);
        this.emit({ kind: 'removed', endpoint: a.deployment.name });
      }
    }
    for (const id of this.failed.keys()) if (!seen.has(id)) this.failed.delete(id);
    // Models no route holds any more are dropped (requests in flight keep theirs until they finish).
    const held = new Set<string>();
    for (const a of this.active.values()) for (const r of [...a.serving, ...a.shadows]) held.add(r.loaded.key);
    for (const key of this.cache.keys()) if (!held.has(key)) this.cache.delete(key);
  }

  private async refreshEndpoint(id: string, d: Deployment): Promise<void> {
    let versions: ModelVersion[];
    try {
      versions = await Promise.all(d.routes.map((r) => this.opts.source.resolve(r.model)));
    } catch (e) {
      this.failEndpoint(id, d, d.routes.map((r) => r.model).join(', '), e);
      return;
    }
    const key = `${d.revision}|${d.public}|${d.stickyKey ?? ''}|${versions.map((v) => `${v.name}/${v.version}`).join(',')}`;
    if (this.active.get(id)?.key === key) return;
    const live: LiveRoute[] = [];
    for (const [i, route] of d.routes.entries()) {
      const v = versions[i]!;
      try {
        live.push({ route, label: labelOf(route), loaded: await this.load(d.name, v) });
      } catch (e) {
        this.failEndpoint(id, d, `${v.name}/${v.version}`, e);
        return;
      }
    }
    this.active.set(id, { deployment: d, key, serving: live.filter((r) => r.route.role !== 'shadow'), shadows: live.filter((r) => r.route.role === 'shadow') });
    this.failed.delete(id);
    this.emit({ kind: 'switched', endpoint: d.name, revision: d.revision, routes: live.map((r) => `${r.label}=${r.loaded.key}${r.route.role === 'shadow' ? '' : ` ${r.route.share}%`}`) });
  }

  private failEndpoint(id: string, d: Deployment, model: string, e: unknown): void {
    const error = (e as Error).message ?? String(e);
    this.emit({ kind: 'load_failed', endpoint: d.name, model, error });
    // An endpoint already serving keeps its versions; one that never loaded says why it is not ready.
    if (!this.active.has(id)) this.failed.set(id, `${model}: ${error}`);
  }

  private load(endpoint: string, v: ModelVersion): Promise<LoadedModel> {
    const key = `${v.name}/${v.version}`;
    let p = this.cache.get(key);
    if (!p) {
      p = inSpan('trellis.model.load', { 'trellis.model': key, 'trellis.endpoint': endpoint }, () => loadVersion(v, this.opts.source.read, undefined, this.loader));
      this.cache.set(key, p);
      p.then((m) => this.emit({ kind: 'loaded', endpoint, model: key, sha256: m.sha256, loadMs: m.loadMs, bytes: m.bytes }), () => this.cache.delete(key));
    }
    return p;
  }

  private emit(e: EngineEvent): void {
    try {
      this.opts.onEvent?.(e);
    } catch {
      // A listener's failure is not the engine's.
    }
  }

  live(): boolean {
    return !this.stopped;
  }

  /** Ready once the first load is done and every endpoint has its routes loaded. */
  ready(): boolean {
    return this.started && !this.stopped && this.failed.size === 0;
  }

  serverMetadata(): { name: string; version: string; extensions: string[] } {
    return { name: this.opts.serverName ?? 'trellis', version: this.opts.serverVersion ?? '0', extensions: ['binary_tensor_data'] };
  }

  /** The endpoints served, for listings and metrics. */
  endpoints(): { name: string; revision: number; routes: { label: string; model: string; share: number; sha256: string; loadMs: number }[] }[] {
    return [...this.active.values()].map((a) => ({
      name: a.deployment.name, revision: a.deployment.revision,
      routes: [...a.serving, ...a.shadows].map((r) => ({ label: r.label, model: r.loaded.key, share: r.route.share, sha256: r.loaded.sha256, loadMs: r.loaded.loadMs })),
    }));
  }

  /** The deployment an endpoint name refers to, when served. */
  deployment(endpoint: string): Deployment | undefined {
    return this.active.get(fold(endpoint))?.deployment;
  }

  /** The loaded model of the endpoint's primary route (or the route serving `version`). */
  loadedModel(endpoint: string, version?: string): LoadedModel {
    return this.pick(this.endpoint(endpoint), version).loaded;
  }

  model(endpoint: string, version?: string): EndpointModel {
    const a = this.endpoint(endpoint);
    const r = this.pick(a, version);
    const m = r.loaded.model;
    const classes = m.task === 'regression' ? undefined : m.classes;
    return {
      metadata: {
        name: a.deployment.name,
        versions: [...new Set(a.serving.map((s) => s.loaded.version))],
        platform: m.estimator.kind === 'onnx' ? 'onnx_onnxv1' : 'trellis',
        ...tensorMetadata(r.loaded.signature, m.task, classes),
        properties: { registered_model: r.loaded.name, model_version: r.loaded.version, sha256: r.loaded.sha256, task: m.task },
      },
      signature: r.loaded.signature,
      task: m.task,
      ...(classes ? { classes } : {}),
      ready: true,
    };
  }

  async authorize(endpoint: string, caller: { authorization?: string; remoteAddress?: string }): Promise<void> {
    const a = this.endpoint(endpoint);
    if (this.opts.authorize) await this.opts.authorize(caller, a.deployment);
  }

  async infer(req: InferRequest): Promise<InferResult> {
    await this.authorize(req.endpoint, req);
    return this.inferAuthorized(req);
  }

  /** {@link infer} for a caller already authorised on the endpoint (the REST routes check before they decode). */
  async inferAuthorized(req: InferRequest): Promise<InferResult> {
    const a = this.endpoint(req.endpoint);
    const r = req.version !== undefined ? this.pick(a, req.version) : this.route(a, req);
    const started = performance.now();
    const time = Date.now();
    let result: InferResult;
    try {
      const predictions = await inSpan('trellis.infer', { 'trellis.endpoint': a.deployment.name, 'trellis.model': r.loaded.key, 'trellis.route': r.label, 'trellis.rows': req.records.length }, () => r.loaded.predict(req.records));
      result = {
        modelName: a.deployment.name, modelVersion: r.loaded.version, registeredModel: r.loaded.name, route: r.label,
        task: r.loaded.model.task, predictions,
      };
    } catch (e) {
      const err = asServingError(e);
      this.served(req, a, r, started, time, false, undefined, err);
      throw err;
    }
    this.served(req, a, r, started, time, false, result);
    for (const s of a.shadows) this.shadow(req, a, s);
    return result;
  }

  private served(req: InferRequest, a: ActiveEndpoint, r: LiveRoute, started: number, time: number, shadow: boolean, result?: InferResult, error?: ServingError): void {
    if (!this.opts.onServed) return;
    try {
      this.opts.onServed({
        requestId: req.requestId, endpoint: a.deployment.name, model: r.loaded.name, version: r.loaded.version, route: r.label, shadow,
        records: req.records, latencyMs: performance.now() - started, time, ...(result ? { result } : {}), ...(error ? { error } : {}),
      });
    } catch {
      // The log's failure is not the request's.
    }
  }

  /** A copy of the request to a shadow, after the answer: its result is reported, never returned. */
  private shadow(req: InferRequest, a: ActiveEndpoint, s: LiveRoute): void {
    setImmediate(() => {
      const started = performance.now();
      const time = Date.now();
      s.loaded.predict(req.records).then(
        (predictions) => this.served(req, a, s, started, time, true, {
          modelName: a.deployment.name, modelVersion: s.loaded.version, registeredModel: s.loaded.name, route: s.label, task: s.loaded.model.task, predictions,
        }),
        (e: unknown) => {
          this.served(req, a, s, started, time, true, undefined, asServingError(e));
          this.emit({ kind: 'shadow_failed', endpoint: a.deployment.name, model: s.loaded.key, error: (e as Error).message });
        },
      );
    });
  }

  private endpoint(name: string): ActiveEndpoint {
    const id = fold(name);
    const a = this.active.get(id);
    if (a) return a;
    const why = this.failed.get(id);
    if (why !== undefined) throw new ServingError('unavailable', `Model ${name} is not ready: ${why}`);
    throw new ServingError('not_found', `Model with name ${name} does not exist.`);
  }

  private pick(a: ActiveEndpoint, version?: string): LiveRoute {
    if (version === undefined) return a.serving.find((r) => r.route.role === 'primary') ?? a.serving[0]!;
    const r = a.serving.find((s) => s.loaded.version === version);
    if (!r) throw new ServingError('not_found', `Model ${a.deployment.name} with version ${version} not found: the versions on traffic are ${[...new Set(a.serving.map((s) => s.loaded.version))].join(', ')}`);
    return r;
  }

  private route(a: ActiveEndpoint, req: InferRequest): LiveRoute {
    const routes = a.serving;
    if (routes.length === 1) return routes[0]!;
    const sticky = a.deployment.stickyKey;
    let x: number;
    if (routes[0]!.route.role === 'arm') {
      const key = req.routingKey ?? stickyValue(sticky, req) ?? req.requestId;
      x = stickyHash(`${a.deployment.name}\u0000${key}`) * 100;
    } else x = this.random() * 100;
    // Canaries first, then the primary takes what is left; arms in their order.
    const ordered = routes[0]!.route.role === 'arm' ? routes : [...routes.filter((r) => r.route.role !== 'primary'), ...routes.filter((r) => r.route.role === 'primary')];
    let acc = 0;
    for (const r of ordered) {
      acc += r.route.share;
      if (x < acc) return r;
    }
    return ordered[ordered.length - 1]!;
  }
}

function stickyValue(sticky: string | undefined, req: InferRequest): string | undefined {
  if (!sticky) return undefined;
  const colon = sticky.indexOf(':');
  const kind = sticky.slice(0, colon);
  const name = sticky.slice(colon + 1);
  if (kind === 'header') {
    const v = req.headers?.[name.toLowerCase()];
    const s = Array.isArray(v) ? v[0] : v;
    return s === undefined || s === '' ? undefined : s;
  }
  const v = req.records[0]?.[name];
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

/** A model's refusal of its input is the caller's error (400; with `keepNotFound`, a 404 stays one); anything else is the server's. */
export function asServingError(e: unknown, keepNotFound = false): ServingError {
  if (e instanceof ServingError) return e;
  if (isTrellisError(e) && e.httpStatus < 500) return new ServingError(keepNotFound && e.httpStatus === 404 ? 'not_found' : 'invalid', e.message);
  return new ServingError('internal', 'Internal server error');
}
