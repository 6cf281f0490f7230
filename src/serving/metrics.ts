/**
 * What `trellis serve` tells Prometheus (`GET /metrics`, prom-client): requests, errors and latency
 * per endpoint, model version and route; requests in flight; model load times; the prediction
 * log's drops. Spans are in tracing.ts.
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EngineEvent, Served } from './engine.js';

export class ServingMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'endpoint' | 'model' | 'version' | 'route' | 'outcome'>;
  private readonly latency: Histogram<'endpoint' | 'model' | 'version' | 'route'>;
  private readonly shadowRequests: Counter<'endpoint' | 'model' | 'version' | 'outcome'>;
  readonly inFlight: Gauge<'protocol'>;
  private readonly loadSeconds: Histogram<'model'>;
  private readonly loadFailures: Counter<'endpoint'>;
  private readonly refusedTotal: Counter<'endpoint' | 'protocol' | 'code'>;
  private readonly children = new Map<string, { requests: { inc(): void }; latency: { observe(v: number): void } }>();

  constructor(o: { dropped?: () => number; written?: () => number; queued?: () => number } = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: 'trellis_serve_' });
    const registers = [this.registry];
    this.requests = new Counter({ name: 'trellis_requests_total', help: 'Inference requests answered, by endpoint, model version, route and outcome (ok, invalid, error)', labelNames: ['endpoint', 'model', 'version', 'route', 'outcome'], registers });
    this.latency = new Histogram({
      name: 'trellis_request_duration_seconds', help: 'Time to predict, from decoded input to predictions', labelNames: ['endpoint', 'model', 'version', 'route'], registers,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    });
    this.shadowRequests = new Counter({ name: 'trellis_shadow_requests_total', help: 'Copies of requests answered by shadow routes', labelNames: ['endpoint', 'model', 'version', 'outcome'], registers });
    this.refusedTotal = new Counter({
      name: 'trellis_requests_refused_total',
      help: 'Inference requests answered with an error before a model was asked (bad input, unknown endpoint or version, access, size), by endpoint (empty when the request named none that is served), protocol and status',
      labelNames: ['endpoint', 'protocol', 'code'], registers,
    });
    this.inFlight = new Gauge({ name: 'trellis_requests_in_flight', help: 'Requests being answered now', labelNames: ['protocol'], registers });
    this.loadSeconds = new Histogram({ name: 'trellis_model_load_seconds', help: 'Time to read, verify and parse a model version', labelNames: ['model'], registers, buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30] });
    this.loadFailures = new Counter({ name: 'trellis_model_load_failures_total', help: 'Model versions refused at load (digest mismatch, bad document)', labelNames: ['endpoint'], registers });
    const log = o;
    new Gauge({ name: 'trellis_prediction_log_dropped_total', help: 'Prediction log entries dropped because the store was slow or failing', registers, collect() { this.set(log.dropped?.() ?? 0); } });
    new Gauge({ name: 'trellis_prediction_log_written_total', help: 'Prediction log entries written', registers, collect() { this.set(log.written?.() ?? 0); } });
    new Gauge({ name: 'trellis_prediction_log_queued', help: 'Prediction log entries waiting to be written', registers, collect() { this.set(log.queued?.() ?? 0); } });
  }

  /** The engine's `onServed`: one answer counted. */
  served(s: Served): void {
    const outcome = s.error ? (s.error.kind === 'internal' ? 'error' : 'invalid') : 'ok';
    if (s.shadow) {
      this.shadowRequests.inc({ endpoint: s.endpoint, model: s.model, version: s.version, outcome });
      return;
    }
    const key = `${s.endpoint}\0${s.model}\0${s.version}\0${s.route}\0${outcome}`;
    let c = this.children.get(key);
    if (!c) {
      // prom-client hashes the labels on every call; the bound children skip that.
      c = {
        requests: this.requests.labels({ endpoint: s.endpoint, model: s.model, version: s.version, route: s.route, outcome }),
        latency: this.latency.labels({ endpoint: s.endpoint, model: s.model, version: s.version, route: s.route }),
      };
      this.children.set(key, c);
    }
    c.requests.inc();
    c.latency.observe(s.latencyMs / 1000);
  }

  /**
   * A request refused before any model answered it. `endpoint` must be a served endpoint's name or
   * '' (a name taken from the request as it came would let callers make labels without end).
   */
  refused(endpoint: string, protocol: 'rest' | 'grpc', code: number | string): void {
    this.refusedTotal.inc({ endpoint, protocol, code: String(code) });
  }

  /** The engine's `onEvent`: loads timed, failures counted. */
  event(e: EngineEvent): void {
    if (e.kind === 'loaded') this.loadSeconds.observe({ model: e.model }, e.loadMs / 1000);
    else if (e.kind === 'load_failed') this.loadFailures.inc({ endpoint: e.endpoint });
  }

  /** Where `text()` comes from when not from this registry alone: all of `trellis serve --workers`' processes. */
  private source?: () => Promise<string>;

  /** `text()` answers from `source` from now on (the metrics of every worker). */
  gatherFrom(source: () => Promise<string>): void {
    this.source = source;
  }

  text(): Promise<string> {
    return this.source ? this.source() : this.registry.metrics();
  }

  /** This process's metrics, for another process to merge with `ServingMetrics.aggregate`. */
  json(): Promise<unknown> {
    return this.registry.getMetricsAsJSON();
  }

  /** The exposition text of several processes' `json()`: series with the same labels merged (counters and histograms summed, gauges as each declares). */
  static aggregate(parts: unknown[]): Promise<string> {
    return AggregatorRegistry.aggregate(parts as object[]).metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
