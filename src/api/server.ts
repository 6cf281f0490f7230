/**
 * The HTTP surface: MLflow's REST API 2.0 (tracking, registry, artifact proxy) plus Trellis's own
 * read-only routes, over one {@link Workspace}. Built without listening, so tests drive it with
 * `inject()` and `serve.ts` decides about sockets and signals.
 */
import { readFile } from 'node:fs/promises';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Workspace } from '../workspace/workspace.js';
import { frameworkErrorHandler, installErrorHandling } from './http-errors.js';
import { installOpenApi } from './openapi.js';
import { logOptions, OneLineRequestLog } from './server-log.js';
import { stringifyJson } from './mlflow-json.js';
import { MlflowRouter, REGISTRY_PREFIXES, TRACKING_PREFIXES, TRELLIS_PREFIXES } from './router.js';
import { artifactProxy, runArtifactRoutes } from './routes/artifacts.js';
import { datasetRoutes, datasetUploads } from './routes/datasets.js';
import { experimentRoutes } from './routes/experiments.js';
import { miscRoutes } from './routes/misc.js';
import { modelVersionRoutes } from './routes/model-versions.js';
import { pipelineRoutes } from './routes/pipelines.js';
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
}

/** Generous for log-model and large tags; log-batch enforces MLflow's 1 MB on its own. */
const JSON_BODY_LIMIT = 16 * 1024 * 1024;

export async function buildServer(ws: Workspace, opts: BuildServerOptions = {}): Promise<FastifyInstance> {
  const version = opts.version ?? (await packageVersion());
  const logging = opts.logger ? { ...logOptions('info'), ...(typeof opts.logger === 'object' ? opts.logger : {}) } : false;
  const app = Fastify({
    logger: logging as FastifyServerOptions['logger'],
    ...(logging ? { logController: new OneLineRequestLog() } : {}),
    // On close, drop idle keep-alive sockets at once but let requests in flight finish.
    forceCloseConnections: 'idle',
    bodyLimit: JSON_BODY_LIMIT,
    frameworkErrors: frameworkErrorHandler,
  });

  // Set before any plugin is registered, so every encapsulated context inherits them.
  app.setReplySerializer((payload) => stringifyJson(payload));
  installErrorHandling(app);
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
