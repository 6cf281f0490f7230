/**
 * The OIP infer route's common case answered straight from `node:http`, before the framework:
 * `POST /v2/models/<endpoint>[/versions/<v>]/infer` with a JSON body of known length, no content
 * encoding and no binary tensor data. It is the same route as the one app.ts registers, with the
 * same declared access (`invoke`: the engine authorises the caller before the body is read), the
 * same decoder and engine, the same headers and the same error answers; it only leaves out the
 * framework's per-request work (routing, hooks, a logger per request, the reply object), which
 * costs more than decoding and predicting one row. Any request it does not recognise as that
 * common case, and every request once the server is closing, goes to the framework untouched.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { decodeInferText, encodeInferResponse, inferResponseJson } from '../../serving/oip/codec.js';
import type { ServingEngine } from '../../serving/engine.js';
import type { ServingMetrics } from '../../serving/metrics.js';
import type { InferResult } from '../../serving/types.js';

/** A request id the caller may choose: printable ASCII without spaces, at most 128 characters. */
export const REQUEST_ID_RE = /^[\x21-\x7e]{1,128}$/;

export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID_RE.test(header) ? header : randomUUID();
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
  /** True once the server is closing: the framework then answers 503. */
  closing: () => boolean;
  /** The error answer app.ts gives for the same error. */
  errorAnswer: (err: unknown) => ErrorAnswer;
  logError: (err: unknown, requestId: string) => void;
}

/** Endpoint and version names the fast path takes as they are; any other URL goes to the router. */
const INFER_URL = /^\/v2\/models\/([\w.-]{1,100})(?:\/versions\/([\w.-]{1,100}))?\/infer$/;

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
    res.writeHead(status, headers);
    res.end(body);
  };

  const fail = (res: ServerResponse, requestId: string, err: unknown): void => {
    const a = o.errorAnswer(err);
    if (a.log) o.logError(err, requestId);
    const headers = ['x-request-id', requestId, 'content-type', 'application/json; charset=utf-8'];
    for (const [k, v] of Object.entries(a.headers ?? {})) headers.push(k, v);
    if (!res.headersSent && !res.destroyed) send(res, a.status, headers, JSON.stringify(a.body));
  };

  const answer = async (req: IncomingMessage, res: ServerResponse, requestId: string, endpoint: string, version: string | undefined, text: string): Promise<void> => {
    metrics?.inFlight.inc(REST);
    try {
      const m = engine.loadedModel(endpoint, version);
      const decoded = decodeInferText(text, { signature: m.signature, maxBatch: o.maxBatch });
      const result: InferResult = await engine.inferAuthorized({
        endpoint, ...(version !== undefined ? { version } : {}), records: decoded.records, requestId,
        headers: req.headers, ...(req.socket.remoteAddress !== undefined ? { remoteAddress: req.socket.remoteAddress } : {}),
      });
      const head = [
        'x-request-id', requestId, 'x-model-endpoint', result.modelName, 'x-model-version', `${result.registeredModel}/${result.modelVersion}`, 'x-route', result.route,
      ];
      if (!decoded.outputs && !decoded.binaryOutputs) {
        head.push('content-type', 'application/json');
        return send(res, 200, head, inferResponseJson(result, decoded.id));
      }
      // Outputs asked for by name, or as binary data.
      const out = encodeInferResponse(result, { ...(decoded.id !== undefined ? { id: decoded.id } : {}), ...(decoded.outputs ? { outputs: decoded.outputs } : {}), binaryOutputs: decoded.binaryOutputs });
      if (out.headerLength !== undefined) head.push('inference-header-content-length', String(out.headerLength), 'content-type', 'application/octet-stream');
      else head.push('content-type', 'application/json');
      head.push('content-length', String(out.body.length));
      res.writeHead(200, head);
      res.end(out.body);
    } catch (err) {
      fail(res, requestId, err);
    } finally {
      metrics?.inFlight.dec(REST);
    }
  };

  return (req, res) => {
    if (req.method !== 'POST' || o.closing()) return false;
    const url = req.url;
    if (url === undefined || !url.startsWith('/v2/models/')) return false;
    const m = INFER_URL.exec(url);
    if (!m) return false;
    const h = req.headers;
    const ct = h['content-type'];
    if (ct === undefined || (ct !== 'application/json' && ct.split(';')[0]!.trim().toLowerCase() !== 'application/json')) return false;
    if (h['inference-header-content-length'] !== undefined || h['transfer-encoding'] !== undefined) return false;
    const enc = h['content-encoding'];
    if (enc !== undefined && enc.trim().toLowerCase() !== 'identity') return false;
    const length = Number(h['content-length']);
    if (!(length <= o.maxBodyBytes)) return false;

    const requestId = requestIdOf(h['x-request-id']);
    const endpoint = m[1]!;
    const version = m[2];
    const caller = { ...(h.authorization !== undefined ? { authorization: h.authorization } : {}), ...(req.socket.remoteAddress !== undefined ? { remoteAddress: req.socket.remoteAddress } : {}) };
    // Who may call comes before the body is read.
    engine.authorize(endpoint, caller).then(() => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
        void answer(req, res, requestId, endpoint, version, text);
      });
    }, (err: unknown) => fail(res, requestId, err));
    return true;
  };
}
