/**
 * What a route declares about who may call it ({@link Access}) and what a request carries about
 * its caller ({@link RequestAuth}); access.ts enforces them. Kept apart from access.ts and
 * router.ts so that both can name them without importing each other.
 */
import type { FastifyRequest } from 'fastify';
import { TrellisError } from '../core/errors.js';
import { allows, type Action, type ObjectRef, type Subject } from '../governance/policy.js';
import type { Actor } from '../store/ports/common.js';
import type { Params } from './params.js';

/** How the MLflow-style router reads a route's body. */
export interface RouteOptions {
  /** Refuse larger raw bodies before parsing them (log-batch's 1 MB). */
  maxBodyBytes?: number;
}

/** The object a route acts on, from its parameters; undefined when the request names none (then a global grant is needed). */
export type ObjectResolver = (req: FastifyRequest, p: Params) => ObjectRef | undefined | Promise<ObjectRef | undefined>;

export type Access =
  /** Anyone, signed in or not: probes and the description of the API, which hold no data. */
  | { public: true }
  /** Any signed-in principal: what concerns the caller only (who am I). */
  | { signedIn: true }
  /** `action` on the object `object` names, or everywhere when it names none. */
  | { action: Action; object?: ObjectResolver }
  /** Lists and searches: any signed-in principal; the handler keeps what `auth.can(action, …)` allows. */
  | { action: Action; filtered: true };

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    auth: RequestAuth;
    /** Parameters the access check already read, so the handler does not read the body twice. */
    trellisParams?: Params;
  }
  interface FastifyContextConfig {
    /** Set by the MLflow-style router: the route's parameters come from its body by MLflow's rules. */
    mlflowParams?: RouteOptions;
  }
}

/** What the principal behind a request may do. */
export class RequestAuth {
  constructor(readonly subject: Subject, readonly via: string) {}

  /** The actor audit events are written under. */
  get who(): Actor {
    return { actor: this.subject.name };
  }

  /** Whether the principal may do `action` on `obj` (on everything when `obj` is omitted). */
  can(action: Action, obj?: ObjectRef): boolean {
    return allows(this.subject, action, obj);
  }

  /** Throws 403 unless {@link can}. */
  require(action: Action, obj?: ObjectRef): void {
    if (!this.can(action, obj)) throw denied(this.subject, action, obj);
  }
}

function denied(s: Subject, action: Action, obj?: ObjectRef): TrellisError {
  const on = obj ? `${obj.type} '${obj.id.slice(0, 100)}'` : 'every object (a global grant)';
  return new TrellisError('TRELLIS_PERMISSION_DENIED', { detail: `'${s.name}' may not ${action} on ${on}` });
}
