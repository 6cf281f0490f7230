/**
 * The inference routes' common case answered straight from `node:http`, before the framework:
 * `POST /v2/models/<endpoint>[/versions/<v>]/infer`, `/v1/models/<endpoint>:predict` and
 * `/invocations`, with a JSON body of known length, no content encoding and no binary tensor data.
 * They are the same routes as the ones app.ts registers, with the same declared access (`invoke`:
 * the engine authorises the caller before the body is read), the same codecs and engine, the same
 * headers and the same error answers; only the framework's per-request work (routing, hooks, a
 * logger per request, the reply object) is left out, which costs more than decoding and
 * predicting one row. Any request not recognised as that common case goes to the framework
 * untouched. Once the server is closing, answers carry `connection: close`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { newRequestId } from '../../core/ids.js';
import { decodeInferRequest, encodeInferResponse, inferResponseJson, type RequestedOutput } from '../../serving/oip/codec.js';
import { decodeMlflowRequest } from '../../serving/oip/mlflow-codec.js';
import { decodeV1, predictionsResponse } from '../../serving/oip/v1-codec.js';
import type { ServingEngine } from '../../serving/engine.js';
import type { ServingMetrics } from '../../serving/metrics.js';
import { ServingError, type InferRequest, type InferResult, type InputColumn } from '../../serving/types.js';

/** A request id the caller may choose: printable ASCII without spaces, at most 128 characters. */
export const REQUEST_ID_RE = /^[\x21-\x7e]{1,128}$/;

export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID_RE.test(header) ? header : newRequestId();
}

/** An error as the serving port answers it: status, body and extra headers. */
export interface ErrorAnswer {
  status: number;
  body: { error: string };
  headers?: Record<string, string>;
  /** Worth a line in the error log (a fault of the server, not of the request). */
  log: boolean;
}

export interface PlainInferOptions {
  engine: ServingEngine;
  maxBodyBytes: number;
  maxBatch: number;
  metrics?: ServingMetrics;
  /** The endpoint `/invocations` answers for when the request names none. */
  invocationsEndpoint?: string;
  /** True once the server is closing: answers then close their connection. */
  closing: () => boolean;
  /** The error answer app.ts gives for the same error. */
  errorAnswer: (err: unknown) => ErrorAnswer;
  logError: (err: unknown, requestId: string) => void;
  /** The engine's inferAuthorized, as the framework routes call it. */
  inferAuthorized: (r: InferRequest) => Promise<InferResult>;
  /** Told of every error answer, with the endpoint the request named when it got that far. */
  onRefused?: (err: unknown, status: number, endpoint: string | undefined) => void;
}

interface Decoded {
  records: Record<string, unknown>[];
  id?: string;
  outputs?: RequestedOutput[];
  binaryOutputs?: boolean;
}

/** A route the fast path answers: its URL (endpoint and version names as they are, no query), and its codec. */
interface PlainRoute {
  url: RegExp;
  endpoint(m: RegExpExecArray, req: IncomingMessage): string;
  decode(body: Buffer, req: IncomingMessage, o: { signature: InputColumn[]; maxBatch: number }): Decoded | Promise<Decoded>;
  /** JSON text, or OIP binary outputs. */
  encode(result: InferResult, d: Decoded): string | { body: Buffer; headerLength: number };
  contentType: string;
}

/** The OIP infer route, KServe v1 `:predict` and MLflow's `/invocations`, as app.ts registers them. */
function plainRoutes(engine: ServingEngine, invocationsEndpoint: string | undefined): PlainRoute[] {
  const predictions = (result: InferResult) => JSON.stringify(predictionsResponse(result));
  return [
    {
      url: /^\/v2\/models\/([\w.-]{1,100})(?:\/versions\/([\w.-]{1,100}))?\/infer$/,
      endpoint: (m) => m[1]!,
      decode: (body, _req, o) => decodeInferRequest(body, o),
      encode: (result, d) => {
        if (!d.outputs && !d.binaryOutputs) return inferResponseJson(result, d.id);
        const out = encodeInferResponse(result, { ...(d.id !== undefined ? { id: d.id } : {}), ...(d.outputs ? { outputs: d.outputs } : {}), binaryOutputs: d.binaryOutputs ?? false });
        return out.headerLength === undefined ? out.body.toString('utf8') : { body: out.body, headerLength: out.headerLength };
      },
      contentType: 'application/json',
    },
    {
      url: /^\/v1\/models\/([\w.-]{1,100}):predict$/,
      endpoint: (m) => m[1]!,
      decode: (body, _req, o) => decodeV1(body, o),
      encode: predictions,
      contentType: 'application/json; charset=utf-8',
    },
    {
      url: /^\/invocations$/,
      endpoint: (_m, req) => {
        const header = req.headers['x-trellis-endpoint'];
        return typeof header === 'string' && header !== '' ? header : invocationsEndpoint ?? soleEndpoint(engine);
      },
      decode: (body, req, o) => decodeMlflowRequest(body, req.headers['content-type'], o),
      encode: predictions,
      contentType: 'application/json; charset=utf-8',
    },
  ];
}

/** `/invocations` without --endpoint or a header: the one endpoint served, else a clear refusal. */
export function soleEndpoint(engine: ServingEngine): string {
  const all = engine.endpoints();
  if (all.length === 1) return all[0]!.name;
  throw new ServingError('invalid', all.length === 0
    ? 'No endpoint is served'
    : `This server serves ${all.length} endpoints (${all.map((e) => e.name).slice(0, 10).join(', ')}): name one with the x-trellis-endpoint header, or start trellis serve with --invocations-endpoint`);
}

const REST = { protocol: 'rest' } as const;

/**
 * A `node:http` request listener's first look: true when it took the request (and will answer
 * it), false to hand it to the framework.
 */
export function plainInferHandler(o: PlainInferOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { engine, metrics } = o;

  const send = (res: ServerResponse, status: number, headers: string[], body: string): void => {
    // A string body goes out in one write with the head.
    headers.push('content-length', String(Buffer.byteLength(body)));
    if (o.closing()) res.shouldKeepAlive = false;
    res.writeHead(status, headers);
    res.end(body);
  };

  const fail = (res: ServerResponse, requestId: string, err: unknown, endpoint?: string): void => {
    const a = o.errorAnswer(err);
    o.onRefused?.(err, a.status, endpoint);
    if (a.log) o.logError(err, requestId);
    const headers = ['x-request-id', requestId, 'content-type', 'application/json; charset=utf-8'];
    for (const [k, v] of Object.entries(a.headers ?? {})) headers.push(k, v);
    if (!res.headersSent && !res.destroyed) send(res, a.status, headers, JSON.stringify(a.body));
  };

  /** Decodes, predicts and answers; the caller is authorised and the body read. */
  const answer = async (req: IncomingMessage, res: ServerResponse, requestId: string, route: PlainRoute, endpoint: string, version: string | undefined, body: Buffer): Promise<void> => {
    metrics?.inFlight.inc(REST);
    try {
      const m = engine.loadedModel(endpoint, version);
      const decoded = await route.decode(body, req, { signature: m.signature, maxBatch: o.maxBatch });
      const result: InferResult = await o.inferAuthorized({
        endpoint, ...(version !== undefined ? { version } : {}), records: decoded.records, requestId,
        headers: req.headers, ...(req.socket.remoteAddress !== undefined ? { remoteAddress: req.socket.remoteAddress } : {}),
      });
      const head = [
        'x-request-id', requestId, 'x-model-endpoint', result.modelName, 'x-model-version', `${result.registeredModel}/${result.modelVersion}`, 'x-route', result.route,
      ];
      const out = route.encode(result, decoded);
      if (typeof out === 'string') {
        head.push('content-type', route.contentType);
        return send(res, 200, head, out);
      }
      // OIP outputs as binary data.
      head.push('inference-header-content-length', String(out.headerLength), 'content-type', 'application/octet-stream', 'content-length', String(out.body.length));
      res.writeHead(200, head);
      res.end(out.body);
    } catch (err) {
      fail(res, requestId, err, endpoint);
    } finally {
      metrics?.inFlight.dec(REST);
    }
  };

  const routes = plainRoutes(engine, o.invocationsEndpoint);

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url;
    if (url === undefined) return false;
    let route: PlainRoute | undefined;
    let m: RegExpExecArray | null = null;
    for (const r of routes) {
      m = r.url.exec(url);
      if (m) {
        route = r;
        break;
      }
    }
    if (!route || !m) return false;
    const h = req.headers;
    const ct = h['content-type'];
    if (ct === undefined || (ct !== 'application/json' && ct.split(';')[0]!.trim().toLowerCase() !== 'application/json')) return false;
    if (h['inference-header-content-length'] !== undefined || h['transfer-encoding'] !== undefined) return false;
    const enc = h['content-encoding'];
    if (enc !== undefined && enc.trim().toLowerCase() !== 'identity') return false;
    const length = Number(h['content-length']);
    if (!(length <= o.maxBodyBytes)) return false;

    const requestId = requestIdOf(h['x-request-id']);
    const caller = { ...(h.authorization !== undefined ? { authorization: h.authorization } : {}), ...(req.socket.remoteAddress !== undefined ? { remoteAddress: req.socket.remoteAddress } : {}) };
    const chosen = route;
    const path = m;
    // Which endpoint, then who may call it, before the body is read.
    let named: string | undefined;
    Promise.resolve().then(() => chosen.endpoint(path, req)).then(async (endpoint) => {
      named = endpoint;
      await engine.authorize(endpoint, caller);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void answer(req, res, requestId, chosen, endpoint, path[2], chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
      });
    }).catch((err: unknown) => fail(res, requestId, err, named));
    return true;
  };
}
