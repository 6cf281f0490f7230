/**
 * The serving port's HTTP surface (`trellis serve`): the Open Inference Protocol v2 over REST, the
 * KServe v1 / TF Serving predict route and MLflow's `/invocations`, all answering from one
 * {@link ServingEngine}. Like the main API, every route declares who may call it — `public`
 * (liveness, readiness, server metadata, metrics) or `invoke` (the endpoint's `invoke`
 * permission, checked by the engine before the body is decoded) — and a route that declares
 * nothing is refused when it is registered.
 *
 * Bodies are read raw, bounded before they are buffered (413), undone from gzip/deflate within the
 * same bound, and decoded by the codecs in serving/oip against the model's signature. Every answer
 * carries the request id (`x-request-id`, the caller's when it sent a sane one); model answers add
 * the endpoint, the model version that answered and its route. Errors take the OIP shape
 * `{"error": "…"}` with the status of the engine's error kind; nothing the client sends gives a 500.
 */
import { createServer } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { exportJsModule, jsModuleEtag } from '../../ml/export-js.js';
import { decodeBody, decodeInferRequest, encodeInferResponse } from '../../serving/oip/codec.js';
import { decodeMlflowRequest } from '../../serving/oip/mlflow-codec.js';
import { decodeV1, parseJsonObject, predictionsResponse } from '../../serving/oip/v1-codec.js';
import { asServingError, type ServingEngine } from '../../serving/engine.js';
import type { ServingMetrics } from '../../serving/metrics.js';
import { HTTP_STATUS, ServingError, type InferRequest, type InferResult } from '../../serving/types.js';
import { plainInferHandler, requestIdOf, soleEndpoint, type ErrorAnswer } from './plain-infer.js';

export type ServingAccess = { public: true } | { invoke: true };

declare module 'fastify' {
  interface FastifyContextConfig {
    serving?: ServingAccess;
  }
}

export interface ServingAppOptions {
  engine: ServingEngine;
  /** Largest request body, compressed or not (default 32 MiB). */
  maxBodyBytes?: number;
  /** Most rows in one request (default 10,000). */
  maxBatch?: number;
  /** The endpoint `/invocations` answers for when the request names none (`x-trellis-endpoint`). */
  invocationsEndpoint?: string;
  /** Fastify's logger option; default off. */
  logger?: boolean | object;
  /** Labels for logged requests (`POST /v2/models/<endpoint>/feedback`); absent: the route answers 501. */
  feedback?: (endpoint: string, requestId: unknown, labels: unknown) => Promise<{ rows: number }>;
  /** Prometheus metrics: `GET /metrics` (public, as scrapers expect) and the in-flight gauge. */
  metrics?: ServingMetrics;
  /** Extra routes (edge modules) registered with the same access rules. */
  extend?: (app: FastifyInstance) => void | Promise<void>;
}

const DEFAULT_MAX_BODY = 32 * 1024 * 1024;
const DEFAULT_MAX_BATCH = 10_000;
/** How long a closing server leaves idle connections open (answers meanwhile close theirs). */
const IDLE_GRACE_MS = 250;
const INFERENCE_ROUTES = new Set(['/v2/models/:name/infer', '/v2/models/:name/versions/:version/infer', '/v1/models/:call', '/invocations']);

export interface ServingRoute {
  method: string;
  url: string;
  access: ServingAccess;
}

const registered = new WeakMap<FastifyInstance, ServingRoute[]>();

/** The routes an app serves with their declared access: what the route-enumeration test walks. */
export function servingRoutes(app: FastifyInstance): ServingRoute[] {
  return registered.get(app) ?? [];
}

export async function buildServingApp(o: ServingAppOptions): Promise<FastifyInstance> {
  const engine = o.engine;
  const maxBody = o.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const maxBatch = o.maxBatch ?? DEFAULT_MAX_BATCH;
  const errorAnswer = (e: unknown): ErrorAnswer => {
    const err = e as Error & { statusCode?: number; code?: string };
    if (err instanceof ServingError) {
      return {
        status: HTTP_STATUS[err.kind], body: { error: err.message }, log: err.kind === 'internal',
        ...(err.kind === 'unauthenticated' ? { headers: { 'www-authenticate': 'Bearer realm="trellis", Basic realm="trellis"' } } : {}),
      };
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { status: 413, body: { error: `The request body is larger than the limit of ${maxBody} bytes` }, log: false };
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) return { status: err.statusCode, body: { error: err.message }, log: false };
    return { status: 500, body: { error: 'Internal server error' }, log: true };
  };
  // Requests refused before a model answered are counted here; a model's own failure is counted
  // with its answer (`served`), so errors that come out of inferAuthorized are remembered.
  const fromModel = new WeakSet<object>();
  const inferAuthorized = (r: InferRequest): Promise<InferResult> => engine.inferAuthorized(r).catch((e: unknown) => {
    if (typeof e === 'object' && e !== null) fromModel.add(e);
    throw e;
  });
  const servedName = (name: unknown) => (typeof name === 'string' ? engine.deployment(name)?.name ?? '' : '');
  const refused = (err: unknown, status: number, endpoint: unknown) => {
    if (o.metrics && !(typeof err === 'object' && err !== null && fromModel.has(err))) o.metrics.refused(servedName(endpoint), 'rest', status);
  };
  let closing = false;
  const plain = plainInferHandler({
    engine, maxBodyBytes: maxBody, maxBatch, ...(o.metrics ? { metrics: o.metrics } : {}), closing: () => closing, errorAnswer,
    ...(o.invocationsEndpoint ? { invocationsEndpoint: o.invocationsEndpoint } : {}),
    logError: (err, reqId) => app.log.error({ err, reqId }, 'internal error'),
    onRefused: refused, inferAuthorized,
  });
  const app = Fastify({
    logger: o.logger ?? false,
    bodyLimit: maxBody,
    genReqId: (req) => requestIdOf(req.headers['x-request-id']),
    // Closing, requests still arriving on open connections are answered (with `connection: close`).
    return503OnClosing: false,
    forceCloseConnections: false,
    // The server the framework would make, with the infer route's common case looked at first.
    serverFactory: (handler, opts) => {
      const server = createServer((req, res) => {
        if (!plainOn || !plain(req, res)) handler(req, res);
      });
      // Fastify's defaults, filled in by the time it calls the factory.
      const t = opts as { keepAliveTimeout: number; requestTimeout: number; connectionTimeout: number; maxRequestsPerSocket: number };
      server.keepAliveTimeout = t.keepAliveTimeout;
      server.requestTimeout = t.requestTimeout;
      server.setTimeout(t.connectionTimeout);
      if (t.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = t.maxRequestsPerSocket;
      // Closing stops the listening socket at once. A connection idle at that moment may have a
      // request on its way, which closing it would reset: idle connections are closed only after
      // a grace, and every answer meanwhile closes its own connection.
      const closeIdle = server.closeIdleConnections.bind(server);
      server.closeIdleConnections = () => {
        if (idleCloseAt === undefined || Date.now() >= idleCloseAt) closeIdle();
      };
      return server;
    },
  });
  let idleCloseAt: number | undefined;
  app.addHook('preClose', (done) => {
    closing = true;
    idleCloseAt = Date.now() + IDLE_GRACE_MS;
    const sweep = setInterval(() => app.server.closeIdleConnections(), IDLE_GRACE_MS / 5);
    sweep.unref();
    app.server.once('close', () => clearInterval(sweep));
    done();
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
  // With the framework's request log on (trellis serve --log-level debug), every request goes
  // through the framework so that each one is logged.
  const plainOn = !['info', 'debug', 'trace'].includes(app.log.level);
  const routes: ServingRoute[] = [];
  registered.set(app, routes);
  app.addHook('onRoute', (r) => {
    const access = r.config?.serving;
    if (!access || !('public' in access || 'invoke' in access)) {
      throw new Error(`serving route ${[r.method].flat().join(',')} ${r.url} declares no access: public or invoke`);
    }
    for (const method of [r.method].flat()) routes.push({ method, url: r.url, access });
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addHook('onRequest', async (req, reply) => {
    void reply.header('x-request-id', req.id);
  });
  const metrics = o.metrics;
  if (metrics) {
    const counted = (url: string) => url.startsWith('/v2/models/') || url.startsWith('/v1/models/') || url.startsWith('/invocations');
    app.addHook('onRequest', async (req) => { if (req.method === 'POST' && counted(req.url)) metrics.inFlight.inc({ protocol: 'rest' }); });
    app.addHook('onResponse', async (req) => { if (req.method === 'POST' && counted(req.url)) metrics.inFlight.dec({ protocol: 'rest' }); });
  }
  app.setErrorHandler((err, req, reply) => {
    const a = errorAnswer(err);
    if (INFERENCE_ROUTES.has(req.routeOptions.url ?? '')) refused(err, a.status, endpointNamed(req) ?? o.invocationsEndpoint);
    if (a.log) req.log.error({ err }, 'internal error');
    for (const [k, v] of Object.entries(a.headers ?? {})) void reply.header(k, v);
    return reply.code(a.status).send(a.body);
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `No route ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}` }));

  const PUBLIC = { serving: { public: true } } as const;
  const INVOKE = { serving: { invoke: true } } as const;
  const caller = (req: FastifyRequest) => ({ authorization: req.headers.authorization, remoteAddress: req.socket.remoteAddress });
  const body = (req: FastifyRequest): Buffer => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const enc = req.headers['content-encoding'];
    return decodeBody(raw, typeof enc === 'string' ? enc : undefined, maxBody);
  };
  const modelHeaders = (reply: FastifyReply, r: InferResult) => {
    void reply.header('x-model-endpoint', r.modelName);
    void reply.header('x-model-version', `${r.registeredModel}/${r.modelVersion}`);
    void reply.header('x-route', r.route);
  };
  const requireType = (req: FastifyRequest, allowed: string[], binaryOk: boolean) => {
    const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (allowed.includes(ct)) return;
    if (binaryOk && ct === 'application/octet-stream' && req.headers['inference-header-content-length'] !== undefined) return;
    throw new ServingError('invalid', `Content-Type must be ${allowed.join(' or ')}${binaryOk ? ' (or application/octet-stream with Inference-Header-Content-Length)' : ''}, got '${ct.slice(0, 100) || 'none'}'`);
  };

  app.get('/v2/health/live', { config: PUBLIC }, async (_req, reply) => (engine.live() ? { live: true } : reply.code(503).send({ error: 'The server is not live' })));
  app.get('/v2/health/ready', { config: PUBLIC }, async (_req, reply) => (engine.ready() ? { ready: true } : reply.code(503).send({ error: 'The server is not ready: a deployment is still loading or failed to load' })));
  app.get('/v2', { config: PUBLIC }, async () => engine.serverMetadata());
  if (metrics) app.get('/metrics', { config: PUBLIC }, async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()));

  const metadata = async (req: FastifyRequest<{ Params: { name: string; version?: string } }>) => {
    await engine.authorize(req.params.name, caller(req));
    return engine.model(req.params.name, req.params.version).metadata;
  };
  app.get('/v2/models/:name', { config: INVOKE }, metadata);
  app.get('/v2/models/:name/versions/:version', { config: INVOKE }, metadata);

  const ready = async (req: FastifyRequest<{ Params: { name: string; version?: string } }>) => {
    await engine.authorize(req.params.name, caller(req));
    const m = engine.model(req.params.name, req.params.version);
    return { name: m.metadata.name, ready: m.ready };
  };
  app.get('/v2/models/:name/ready', { config: INVOKE }, ready);
  app.get('/v2/models/:name/versions/:version/ready', { config: INVOKE }, ready);

  const infer = async (req: FastifyRequest<{ Params: { name: string; version?: string } }>, reply: FastifyReply) => {
    const { name, version } = req.params;
    await engine.authorize(name, caller(req));
    requireType(req, ['application/json'], true);
    const m = engine.loadedModel(name, version);
    const hl = req.headers['inference-header-content-length'];
    const decoded = decodeInferRequest(body(req), { signature: m.signature, maxBatch, ...(typeof hl === 'string' ? { headerLength: hl } : {}) });
    const result = await inferAuthorized({
      endpoint: name, ...(version !== undefined ? { version } : {}), records: decoded.records, requestId: req.id,
      headers: req.headers, remoteAddress: req.socket.remoteAddress,
    });
    const out = encodeInferResponse(result, { ...(decoded.id !== undefined ? { id: decoded.id } : {}), ...(decoded.outputs ? { outputs: decoded.outputs } : {}), binaryOutputs: decoded.binaryOutputs });
    modelHeaders(reply, result);
    if (out.headerLength !== undefined) {
      void reply.header('inference-header-content-length', String(out.headerLength));
      void reply.type('application/octet-stream');
    } else void reply.type('application/json');
    return reply.send(out.body);
  };
  app.post('/v2/models/:name/infer', { config: INVOKE }, infer);
  app.post('/v2/models/:name/versions/:version/infer', { config: INVOKE }, infer);

  // The model on traffic as one dependency-free ES module, for browsers and devices that predict
  // locally and follow promotions: an unchanged model costs a 304.
  const modules = new Map<string, { text: string; etag: string }>();
  app.get('/v1/models/:name/module.js', { config: INVOKE }, async (req: FastifyRequest<{ Params: { name: string } }>, reply) => {
    const name = req.params.name;
    await engine.authorize(name, caller(req));
    const loaded = engine.loadedModel(name);
    let m = modules.get(loaded.sha256);
    if (!m) {
      if (loaded.model.estimator.kind === 'onnx') throw new ServingError('unimplemented', `${loaded.key} is an imported ONNX model: it has no JavaScript module (export it with trellis export --format onnx for ONNX Runtime on devices)`);
      const text = exportJsModule(loaded.model, { name: loaded.name, version: loaded.version });
      m = { text, etag: jsModuleEtag(text) };
      if (modules.size > 32) modules.clear();
      modules.set(loaded.sha256, m);
    }
    void reply.header('etag', m.etag).header('cache-control', 'no-cache').header('x-model-version', loaded.key);
    const inm = req.headers['if-none-match'];
    if (typeof inm === 'string' && inm.split(',').map((x) => x.trim()).includes(m.etag)) return reply.code(304).send();
    return reply.type('text/javascript; charset=utf-8').send(m.text);
  });

  // A delayed label for a request the endpoint answered: {"request_id": "<x-request-id>", "labels": [...]} (or "label" for one row).
  app.post('/v2/models/:name/feedback', { config: INVOKE }, async (req: FastifyRequest<{ Params: { name: string } }>) => {
    const name = req.params.name;
    await engine.authorize(name, caller(req));
    requireType(req, ['application/json'], false);
    if (!o.feedback) throw new ServingError('unimplemented', 'This server keeps no prediction log (started with --log-sample 0), so it cannot take feedback');
    const doc = parseJsonObject(body(req), 'feedback');
    const labels = doc.labels !== undefined ? doc.labels : doc.label;
    if (labels === undefined) throw new ServingError('invalid', "The feedback needs 'labels' (one per row of the request) or 'label' (for a one-row request)");
    try {
      const { rows } = await o.feedback(engine.deployment(name)!.name, doc.request_id, labels);
      return { request_id: doc.request_id, rows };
    } catch (e) {
      throw asServingError(e, true);
    }
  });

  // KServe v1 / TF Serving: POST /v1/models/<name>:predict (the router takes the colon into the parameter).
  app.post('/v1/models/:call', { config: INVOKE }, async (req: FastifyRequest<{ Params: { call: string } }>, reply) => {
    const m0 = /^(.+):predict$/.exec(req.params.call);
    if (!m0) throw new ServingError('not_found', `No route POST /v1/models/${req.params.call.slice(0, 200)}: the v1 route is /v1/models/<name>:predict`);
    const name = m0[1]!;
    await engine.authorize(name, caller(req));
    requireType(req, ['application/json'], false);
    const m = engine.loadedModel(name);
    const { records } = decodeV1(body(req), { signature: m.signature, maxBatch });
    const result = await inferAuthorized({ endpoint: name, records, requestId: req.id, headers: req.headers, remoteAddress: req.socket.remoteAddress });
    modelHeaders(reply, result);
    return predictionsResponse(result);
  });

  // MLflow's scoring protocol, for scripts written against `mlflow models serve`.
  app.post('/invocations', { config: INVOKE }, async (req, reply) => {
    const header = req.headers['x-trellis-endpoint'];
    const name = typeof header === 'string' && header !== '' ? header : o.invocationsEndpoint ?? soleEndpoint(engine);
    await engine.authorize(name, caller(req));
    requireType(req, ['application/json', 'text/csv'], false);
    const m = engine.loadedModel(name);
    const ct = req.headers['content-type'];
    const { records } = await decodeMlflowRequest(body(req), typeof ct === 'string' ? ct : undefined, { signature: m.signature, maxBatch });
    const result = await inferAuthorized({ endpoint: name, records, requestId: req.id, headers: req.headers, remoteAddress: req.socket.remoteAddress });
    modelHeaders(reply, result);
    return predictionsResponse(result);
  });

  await o.extend?.(app);
  return app;
}

/** The endpoint an inference request names: in its path, else (for /invocations) its header. */
function endpointNamed(req: FastifyRequest): string | undefined {
  const p = req.params as { name?: string; call?: string } | undefined;
  if (p?.name !== undefined) return p.name;
  if (p?.call !== undefined) return /^(.+):predict$/.exec(p.call)?.[1];
  const h = req.headers['x-trellis-endpoint'];
  return typeof h === 'string' ? h : undefined;
}
