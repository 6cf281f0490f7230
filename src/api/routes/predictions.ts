/**
 * The prediction log over REST (`/api/2.0/trellis/predictions/...`), as the SDK uses it: feedback
 * (delayed labels for a served request, the same as `POST /v2/models/<endpoint>/feedback` on the
 * serving port) needs `invoke` on the endpoint; reading the log needs `read` on every model the
 * endpoint's deployment routes to, as reading the deployment does.
 */
import type { FastifyRequest } from 'fastify';
import { invalid } from '../../core/errors.js';
import { parseModelRef } from '../../core/refs.js';
import { modelsOf } from '../../serving/deployment-service.js';
import type { LabelledEntry, PredictionQuery } from '../../store/ports/predictions.js';
import type { Workspace } from '../../workspace/workspace.js';
import { missing, wrongType, type Params } from '../params.js';
import { modelObj } from '../route-objects.js';
import { parseJsonBody, type MlflowRouter } from '../router.js';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

export function predictionEntryJson(e: LabelledEntry): object {
  return {
    request_id: e.requestId, endpoint: e.endpoint, time: e.time, model: e.model, version: e.version, route: e.route, shadow: e.shadow,
    latency_ms: e.latencyMs, inputs: e.inputs,
    ...(e.predictions ? { predictions: e.predictions } : {}), ...(e.classes ? { classes: e.classes } : {}), ...(e.proba ? { proba: e.proba } : {}),
    ...(e.error !== undefined ? { error: e.error } : {}), ...(e.labels ? { labels: e.labels } : {}),
  };
}

/** `page_token`: where the previous page ended (time, request id, route), as JSON in base64url. */
function pageAfter(p: Params): PredictionQuery['after'] {
  const token = p.optionalString('page_token', 1000);
  if (token === undefined || token === '') return undefined;
  try {
    const [time, requestId, route] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown[];
    if (typeof time === 'number' && typeof requestId === 'string' && typeof route === 'string') return { time, requestId, route };
  } catch {
    // Refused below.
  }
  throw invalid(`Invalid value for parameter 'page_token': give the next_page_token of the previous page`);
}

export function predictionRoutes(r: MlflowRouter, ws: Workspace): void {
  /** The endpoint's name as its deployment spells it (the log is kept under that name), or as given when there is none. */
  const endpointName = async (p: Params) => {
    const name = p.requireString('endpoint', 200);
    return (await ws.deployments.find(name))?.name ?? name;
  };

  r.post('/predictions/feedback', { action: 'invoke', object: async (_req, p) => ({ type: 'endpoint', id: await endpointName(p) }) }, async ({ p, req }) => {
    const endpoint = await endpointName(p);
    const requestId = p.requireString('request_id', 128);
    const labels = rawBody(req).labels;
    if (labels === undefined || labels === null) throw missing('labels');
    if (!Array.isArray(labels)) throw wrongType('labels', labels);
    const { rows } = await ws.predictions.feedback(endpoint, requestId, labels);
    return { request_id: requestId, rows };
  });

  r.get('/predictions/list', {
    action: 'read',
    object: async (_req, p) => {
      const d = await ws.deployments.find(p.requireString('endpoint', 200));
      return d ? modelObj(parseModelRef(d.routes[0]!.model).name) : undefined;
    },
  }, async ({ p, auth }) => {
    const d = await ws.deployments.get(p.requireString('endpoint', 200));
    for (const m of modelsOf(d)) auth.require('read', modelObj(m));
    const since = p.optionalInt('since');
    const until = p.optionalInt('until');
    if (since !== undefined && until !== undefined && since >= until) throw invalid(`'since' (${since}) must be before 'until' (${until}): both are milliseconds since the epoch`);
    const limit = p.optionalInt('max_results') ?? DEFAULT_PAGE;
    if (limit < 1 || limit > MAX_PAGE) throw invalid(`Invalid value ${limit} for parameter 'max_results': give 1 to ${MAX_PAGE}`);
    const route = p.optionalString('route', 64);
    const after = pageAfter(p);
    const entries = await ws.predictions.query({
      endpoint: d.name, limit, ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}),
      ...(route ? { route } : {}), ...(p.optionalBool('with_labels') ? { withLabels: true } : {}), ...(after ? { after } : {}),
    });
    const last = entries.at(-1);
    const next = entries.length === limit && last ? Buffer.from(JSON.stringify([last.time, last.requestId, last.route])).toString('base64url') : undefined;
    return { predictions: entries.map(predictionEntryJson), ...(next ? { next_page_token: next } : {}) };
  });
}

/** The body's `labels` are handed to the prediction service whole, which checks them itself. */
function rawBody(req: FastifyRequest): Record<string, unknown> {
  return Buffer.isBuffer(req.body) ? parseJsonBody(req.body) : {};
}
