/**
 * Who may call each route, enforced by the router itself. Every route declares an {@link Access}
 * in its `config` where it is registered; an `onRoute` hook refuses to register one that does not,
 * so the server cannot start with an unguarded route. Two hooks then run for every request, before
 * any handler: `onRequest` reads the credentials (governance/identities.ts) and `preHandler` asks
 * the policy (governance/policy.ts) whether the principal may do the route's action on the object
 * the route names. Deny by default: a route that names an object it cannot resolve requires the
 * action everywhere (a global grant).
 *
 * With auth off (a loopback server started without `--auth`) every request is allowed, as
 * `anonymous`; with auth on, a request without credentials gets 401 on every route not marked
 * public, a principal without the permission 403. List and search routes let any signed-in
 * principal through and filter their results per object with {@link RequestAuth.can}.
 *
 * Identity headers from a reverse proxy (`TRELLIS_TRUSTED_PROXY_HEADER`) are believed only from
 * the addresses in `TRELLIS_TRUSTED_PROXIES`; from anywhere else the header is ignored.
 */
import type { FastifyInstance } from 'fastify';
import { TrellisError } from '../core/errors.js';
import type { Authenticator } from '../governance/identities.js';
import { subjectOf } from '../governance/policy.js';
import type { Workspace } from '../workspace/workspace.js';
import { paramsOf } from './router.js';
import { RequestAuth, type Access } from './request-auth.js';

export { RequestAuth, type Access, type ObjectResolver } from './request-auth.js';

/** What a 401 offers: a token as Bearer, or as the password of HTTP Basic. */
const CHALLENGE = 'Bearer realm="trellis", Basic realm="trellis"';

const ANONYMOUS = new RequestAuth({ name: 'anonymous', grants: [], unrestricted: true }, 'none');

export interface AuthOptions {
  /** Undefined: auth is off and every request is allowed as `anonymous`. */
  authenticator?: Authenticator;
  /** A header naming the user, set by a reverse proxy that authenticated it (e.g. `x-forwarded-user`). */
  proxyHeader?: string;
  /** Addresses the proxy header is believed from; required with `proxyHeader`. */
  trustedProxies?: readonly string[];
  /** Reads a principal by name, for the proxy header. */
  findPrincipal?: Workspace['identities']['get'];
}

export interface GuardedRoute {
  method: string;
  url: string;
  access: Access;
}

const registered = new WeakMap<FastifyInstance, GuardedRoute[]>();

/** Every route registered on `app` since {@link installAccessControl}, with its access (HEAD routes Fastify adds included). */
export function guardedRoutes(app: FastifyInstance): readonly GuardedRoute[] {
  return registered.get(app) ?? [];
}

/** Installs the access checks; call before any route is registered. */
export function installAccessControl(app: FastifyInstance, opts: AuthOptions = {}): void {
  app.decorateRequest('auth', null as unknown as RequestAuth);
  const routes: GuardedRoute[] = [];
  registered.set(app, routes);
  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    if (!access || !isAccess(access)) {
      throw new Error(`route ${[route.method].flat().join(',')} ${route.url} declares no access: every route must say who may call it (src/api/access.ts)`);
    }
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, access });
  });
  const trusted = new Set((opts.trustedProxies ?? []).map(normalizeAddress));
  const proxyHeader = opts.proxyHeader?.toLowerCase();
  if (proxyHeader && trusted.size === 0) throw new TrellisError('TRELLIS_AUTH_CONFIG', { detail: 'TRELLIS_TRUSTED_PROXY_HEADER needs TRELLIS_TRUSTED_PROXIES: the addresses of the proxies allowed to set it' });

  app.addHook('onRequest', async (req, reply) => {
    const auth = opts.authenticator;
    if (!auth) {
      req.auth = ANONYMOUS;
      return;
    }
    const peer = normalizeAddress(req.socket?.remoteAddress ?? '');
    if (proxyHeader && trusted.has(peer)) {
      const name = req.headers[proxyHeader];
      if (typeof name === 'string' && name.trim() !== '') {
        const p = await opts.findPrincipal!(name).catch(() => undefined);
        req.auth = new RequestAuth(p ? subjectOf(p) : { name: name.trim().slice(0, 128), grants: [] }, 'proxy');
        return;
      }
    }
    const header = req.headers.authorization;
    void reply.header('www-authenticate', CHALLENGE);
    const found = await auth.authenticate(typeof header === 'string' ? header : undefined, peer);
    reply.removeHeader('www-authenticate');
    req.auth = found ? new RequestAuth(found.subject, found.via) : new RequestAuth({ name: 'anonymous', grants: [] }, 'none');
  });

  app.addHook('preHandler', async (req, reply) => {
    const access = req.routeOptions.config.access;
    // Fastify's own 404 route has no access: it answers nothing but "not found".
    if (!access || 'public' in access) return;
    const a = req.auth;
    if (a.via === 'none' && !a.subject.unrestricted) {
      void reply.header('www-authenticate', CHALLENGE);
      throw new TrellisError('TRELLIS_UNAUTHENTICATED', { detail: 'this server requires a token (Authorization: Bearer <token>, or Basic with your user name and a token)' });
    }
    if ('signedIn' in access || 'filtered' in access || a.can(access.action)) return;
    const obj = access.object ? await access.object(req, paramsOf(req)) : undefined;
    a.require(access.action, obj);
  });
}

function isAccess(a: unknown): a is Access {
  if (typeof a !== 'object' || a === null) return false;
  return 'public' in a || 'signedIn' in a || 'action' in a;
}

function normalizeAddress(a: string): string {
  return a.trim().toLowerCase().replace(/^::ffff:/, '');
}
