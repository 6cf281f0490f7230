/**
 * Registers an MLflow-style route under every prefix MLflow serves it on, and turns the request
 * into {@link Params} by MLflow's transport rules (spec §1.1): the query string on GET, a JSON body
 * on every other method (DELETE included), a strict Content-Type on POST/PUT/PATCH, an empty body
 * read as `{}`, and a body that is a JSON string of JSON decoded twice for old clients.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { TrellisError } from '../core/errors.js';
import type { Actor } from '../store/ports/common.js';
import type { Access, RequestAuth, RouteOptions } from './request-auth.js';

export type { RouteOptions } from './request-auth.js';
import { Params, isPlainObject, show } from './params.js';

export const TRACKING_PREFIXES = ['/api/2.0/mlflow', '/ajax-api/2.0/mlflow'] as const;
/** MLflow 1.x clients still call the registry under `/preview`. */
export const REGISTRY_PREFIXES = [...TRACKING_PREFIXES, '/api/2.0/preview/mlflow', '/ajax-api/2.0/preview/mlflow'] as const;
export const TRELLIS_PREFIXES = ['/api/2.0/trellis', '/ajax-api/2.0/trellis'] as const;

export interface RouteContext {
  p: Params;
  req: FastifyRequest;
  reply: FastifyReply;
  /** The principal the request is made by, as audit events name it. */
  who: Actor;
  /** What the principal may do: list and search routes filter their results with `auth.can`. */
  auth: RequestAuth;
}

/** Returns the response object; `{}` for MLflow's empty responses. */
export type RouteHandler = (ctx: RouteContext) => Promise<object>;


export class MlflowRouter {
  constructor(private readonly app: FastifyInstance, private readonly prefixes: readonly string[]) {}

  get(path: string, access: Access, h: RouteHandler, o?: RouteOptions): void { this.route(['GET'], path, access, h, o); }
  post(path: string, access: Access, h: RouteHandler, o?: RouteOptions): void { this.route(['POST'], path, access, h, o); }
  patch(path: string, access: Access, h: RouteHandler, o?: RouteOptions): void { this.route(['PATCH'], path, access, h, o); }
  delete(path: string, access: Access, h: RouteHandler, o?: RouteOptions): void { this.route(['DELETE'], path, access, h, o); }

  /** Registers `handler` for `methods` at `path` under every prefix; `access` says who may call it (access.ts). */
  route(methods: HTTPMethods[], path: string, access: Access, handler: RouteHandler, opts: RouteOptions = {}): void {
    for (const prefix of this.prefixes) {
      this.app.route({
        method: methods,
        url: prefix + path,
        config: { access, mlflowParams: opts },
        handler: async (req, reply) => handler({ p: paramsOf(req), req, reply, who: actorOf(req), auth: req.auth }),
      });
    }
  }
}

/** The principal a request is made by, as audit events name it (`anonymous` with auth off). */
export function actorOf(req: FastifyRequest): Actor {
  return req.auth?.who ?? { actor: 'anonymous' };
}

/** The request's parameters (by MLflow's transport rules on the router's routes, else the query string), read once. */
export function paramsOf(req: FastifyRequest): Params {
  if (!req.trellisParams) {
    const mlflow = req.routeOptions.config.mlflowParams;
    req.trellisParams = mlflow ? readParams(req, mlflow) : Params.fromQuery(req.query);
  }
  return req.trellisParams;
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
