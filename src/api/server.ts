/**
 * The HTTP surface: MLflow's REST API 2.0 (tracking, registry, artifact proxy) plus Trellis's own
 * read-only routes, over one {@link Workspace}. Built without listening, so tests drive it with
 * `inject()` and `serve.ts` decides about sockets and signals. edge.ts checks every request's Host
 * (and a write's Origin) before a route sees it.
 */
import { readFile } from 'node:fs/promises';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Workspace } from '../workspace/workspace.js';
import { installAccessControl, type AuthOptions } from './access.js';
import { installEdgeChecks } from './edge.js';
import { frameworkErrorHandler, installErrorHandling } from './http-errors.js';
import { installOpenApi } from './openapi.js';
import { logOptions, OneLineRequestLog } from './server-log.js';
import { stringifyJson } from './mlflow-json.js';
import { MlflowRouter, REGISTRY_PREFIXES, TRACKING_PREFIXES, TRELLIS_PREFIXES } from './router.js';
import { artifactProxy, runArtifactRoutes } from './routes/artifacts.js';
import { datasetRoutes, datasetUploads } from './routes/datasets.js';
import { experimentRoutes } from './routes/experiments.js';
import { identityRoutes } from './routes/identities.js';
import { deploymentRoutes } from './routes/deployments.js';
import { miscRoutes } from './routes/misc.js';
import { modelVersionRoutes } from './routes/model-versions.js';
import { pipelineRoutes } from './routes/pipelines.js';
import { predictionRoutes } from './routes/predictions.js';
import { registeredModelRoutes } from './routes/registered-models.js';
import { runLoggingRoutes } from './routes/run-logging.js';
import { runRoutes } from './routes/runs.js';
import { trainingRoutes } from './routes/training.js';
import { trellisRoutes } from './routes/trellis.js';

export interface BuildServerOptions {
  /**
   * Fastify's `logger` option: false (the default), true, or pino options (`stream` among them). A
   * logger logs one line per request (method, URL with credential-like query values redacted,
   * status, duration) and never headers (see server-log.ts).
   */
  logger?: boolean | object;
  /** What `/version` answers; default: the version in package.json. */
  version?: string;
  /** Largest dataset upload accepted; default $TRELLIS_MAX_UPLOAD_BYTES, else 2 GiB. */
  maxUploadBytes?: number;
  /**
   * Host names the server answers to beyond localhost, 127.0.0.1, [::1] and `bindHost` (see
   * edge.ts); `*` allows any. A request naming another Host is refused with 403.
   */
  allowedHosts?: readonly string[];
  /** The address the server will listen on: allowed as a Host (every interface address when it is a wildcard). */
  bindHost?: string;
  /** Time a client has to send the request's headers; default 10 s. */
  headersTimeoutMs?: number;
  /** Time a client has to send the whole request, body included (uploads are large); default 1 hour. */
  requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open; default 72 s (longer than the 60 s idle timeout of common load balancers). */
  keepAliveTimeoutMs?: number;
  /**
   * Authentication and the proxy header (access.ts). Without an authenticator, auth is off: every
   * request is allowed as `anonymous` (`trellis server` allows that on loopback only).
   */
  auth?: AuthOptions;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 60 * 60_000;
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 72_000;

/** Generous for log-model and large tags; log-batch enforces MLflow's 1 MB on its own. */
const JSON_BODY_LIMIT = 16 * 1024 * 1024;

export async function buildServer(ws: Workspace, opts: BuildServerOptions = {}): Promise<FastifyInstance> {
  const version = opts.version ?? (await packageVersion());
  const requestTimeout = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  // Node refuses a headers timeout longer than the request timeout.
  const headersTimeout = Math.min(opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS, requestTimeout);
  const logging = opts.logger ? { ...logOptions('info'), ...(typeof opts.logger === 'object' ? opts.logger : {}) } : false;
  const app = Fastify({
    logger: logging as FastifyServerOptions['logger'],
    ...(logging ? { logController: new OneLineRequestLog() } : {}),
    // On close, drop idle keep-alive sockets at once but let requests in flight finish.
    forceCloseConnections: 'idle',
    bodyLimit: JSON_BODY_LIMIT,
    frameworkErrors: frameworkErrorHandler,
    // A client that trickles its headers or its body cannot hold a connection open forever. Node
    // enforces both timeouts on a sweep of open connections, run here often enough that a
    // connection is closed within about a second of its deadline. There is deliberately no idle
    // socket timeout (`connectionTimeout`): a training request may compute for minutes before it answers.
    http: { headersTimeout, requestTimeout, connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 2))) },
    requestTimeout,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  });

  // Set before any plugin is registered, so every encapsulated context inherits them.
  app.setReplySerializer((payload) => stringifyJson(payload));
  installErrorHandling(app);
  // Before any route, so every route and plugin (and the 404 handler) runs the checks.
  installEdgeChecks(app, { allowedHosts: opts.allowedHosts, bindHost: opts.bindHost });
  // Also before any route: a route registered without an access declaration stops the server here.
  installAccessControl(app, opts.auth);
  // Bodies arrive as raw bytes whatever their declared type; the router checks the type and
  // parses, which is how a wrong Content-Type becomes MLflow's 400 rather than Fastify's 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  installOpenApi(app);

  const tracking = new MlflowRouter(app, TRACKING_PREFIXES);
  experimentRoutes(tracking, ws);
  runRoutes(tracking, ws);
  runLoggingRoutes(tracking, ws);
  runArtifactRoutes(tracking, ws);

  const registry = new MlflowRouter(app, REGISTRY_PREFIXES);
  registeredModelRoutes(registry, ws);
  modelVersionRoutes(registry, ws);

  const trellis = new MlflowRouter(app, TRELLIS_PREFIXES);
  trellisRoutes(trellis, ws);
  datasetRoutes(trellis, ws);
  pipelineRoutes(trellis, ws);
  trainingRoutes(trellis, ws);
  identityRoutes(trellis, ws);
  deploymentRoutes(trellis, ws);
  predictionRoutes(trellis, ws);
  miscRoutes(app, version);
  await app.register(artifactProxy, { ws });
  await app.register(datasetUploads, { ws, maxUploadBytes: opts.maxUploadBytes });
  return app;
}

/** Resolved from this file, so it works from `src/api` under tsx and from `dist/api` once built. */
async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}
