/**
 * Registers an MLflow-style route under every prefix MLflow serves it on, and turns the request
 * into {@link Params} by MLflow's transport rules (spec §1.1): the query string on GET, a JSON body
 * on every other method (DELETE included), a strict Content-Type on POST/PUT/PATCH, an empty body
 * read as `{}`, and a body that is a JSON string of JSON decoded twice for old clients.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { TrellisError } from '../core/errors.js';
import type { Actor } from '../store/ports/common.js';
import { Params, isPlainObject, show } from './params.js';

export const TRACKING_PREFIXES = ['/api/2.0/mlflow', '/ajax-api/2.0/mlflow'] as const;
/** MLflow 1.x clients still call the registry under `/preview`. */
export const REGISTRY_PREFIXES = [...TRACKING_PREFIXES, '/api/2.0/preview/mlflow', '/ajax-api/2.0/preview/mlflow'] as const;
export const TRELLIS_PREFIXES = ['/api/2.0/trellis', '/ajax-api/2.0/trellis'] as const;

export interface RouteContext {
  p: Params;
  req: FastifyRequest;
  reply: FastifyReply;
  who: Actor;
}

/** Returns the response object; `{}` for MLflow's empty responses. */
export type RouteHandler = (ctx: RouteContext) => Promise<object>;

export interface RouteOptions {
  /** Refuse larger raw bodies before parsing them (log-batch's 1 MB). */
  maxBodyBytes?: number;
}

export class MlflowRouter {
  constructor(private readonly app: FastifyInstance, private readonly prefixes: readonly string[]) {}

  get(path: string, h: RouteHandler, o?: RouteOptions): void { this.route(['GET'], path, h, o); }
  post(path: string, h: RouteHandler, o?: RouteOptions): void { this.route(['POST'], path, h, o); }
  patch(path: string, h: RouteHandler, o?: RouteOptions): void { this.route(['PATCH'], path, h, o); }
  delete(path: string, h: RouteHandler, o?: RouteOptions): void { this.route(['DELETE'], path, h, o); }

  route(methods: HTTPMethods[], path: string, handler: RouteHandler, opts: RouteOptions = {}): void {
    for (const prefix of this.prefixes) {
      this.app.route({
        method: methods,
        url: prefix + path,
        handler: async (req, reply) => handler({ p: readParams(req, opts), req, reply, who: actorOf(req) }),
      });
    }
  }
}

/**
 * There is no authentication yet (DESIGN.md roadmap, step 7), so API changes are audited as
 * `anonymous` rather than under a name the client merely claims; auth will replace this one function.
 */
export function actorOf(_req: FastifyRequest): Actor {
  return { actor: 'anonymous' };
}

const CONTENT_CHECKED = new Set(['POST', 'PUT', 'PATCH']);

export function readParams(req: FastifyRequest, opts: RouteOptions = {}): Params {
  if (req.method === 'GET' || req.method === 'HEAD') return Params.fromQuery(req.query);
  // The server's catch-all content-type parser hands every body over as raw bytes.
  const body = Buffer.isBuffer(req.body) ? req.body : undefined;
  const ct = req.headers['content-type'];
  if (CONTENT_CHECKED.has(req.method) && (ct !== undefined ? !isJsonContentType(ct) : (body?.length ?? 0) > 0)) {
    throw new TrellisError('TRELLIS_CONTENT_TYPE', { contentType: show(ct ?? '') });
  }
  if (!body || body.length === 0) {
    // Some clients put a DELETE's parameters in the query string instead of a body.
    const query = req.query as Record<string, unknown> | undefined;
    return req.method === 'DELETE' && query && Object.keys(query).length ? Params.fromQuery(query) : Params.fromObject({});
  }
  if (opts.maxBodyBytes !== undefined && body.length > opts.maxBodyBytes) {
    throw new TrellisError('TRELLIS_LIMIT_EXCEEDED', {
      detail: `Batched logging API requests must be at most ${opts.maxBodyBytes} bytes, got a request of size ${body.length}.`,
    });
  }
  return Params.fromObject(parseJsonBody(body));
}

export function isJsonContentType(ct: string): boolean {
  return ct.split(';')[0]!.trim().toLowerCase() === 'application/json';
}

export function parseJsonBody(body: Buffer): Record<string, unknown> {
  const text = body.toString('utf8').replace(/^\uFEFF/, '');
  if (text.trim() === '') return {};
  let value = parseOrThrow(text);
  // Old clients posted their JSON double-encoded, as a JSON string.
  if (typeof value === 'string') value = parseOrThrow(value);
  if (value === null) return {};
  if (!isPlainObject(value)) throw new TrellisError('TRELLIS_MALFORMED_JSON', { detail: 'the body must be a JSON object' });
  return value;
}

function parseOrThrow(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TrellisError('TRELLIS_MALFORMED_JSON', { detail: show((e as Error).message) });
  }
}
