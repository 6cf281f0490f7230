/**
 * Users, service accounts, their roles and API tokens over REST, as `trellis users` and `trellis
 * tokens` manage them. Managing principals and roles is for administrators; any signed-in
 * principal may see who it is, and create, list and revoke its own tokens. A token is returned
 * once, by the call that creates it; no route ever returns a token's hash.
 */
import type { FastifyRequest } from 'fastify';
import { TrellisError, invalid } from '../../core/errors.js';
import type { TokenInfo } from '../../governance/identities.js';
import { formatGrant, parseGrant } from '../../governance/policy.js';
import { excerpt } from '../../store/limits.js';
import type { Grant, Principal, PrincipalKind } from '../../store/ports/identities.js';
import type { Workspace } from '../../workspace/workspace.js';
import type { RequestAuth } from '../request-auth.js';
import { parseJsonBody, type MlflowRouter } from '../router.js';

const ADMIN = { action: 'admin' } as const;
const SIGNED_IN = { signedIn: true } as const;

export function principalJson(p: Principal): object {
  return {
    name: p.name, kind: p.kind, created_at: p.createdAt, created_by: p.createdBy, disabled: p.disabled,
    roles: p.grants.map(formatGrant),
  };
}

export function tokenJson(t: TokenInfo): object {
  return {
    id: t.id, user: t.principal, description: t.description, state: t.state, created_at: t.createdAt, created_by: t.createdBy,
    ...(t.expiresAt !== undefined ? { expires_at: t.expiresAt } : {}),
    ...(t.revokedAt !== undefined ? { revoked_at: t.revokedAt, revoked_by: t.revokedBy } : {}),
  };
}

function body(req: FastifyRequest): Record<string, unknown> {
  return Buffer.isBuffer(req.body) ? parseJsonBody(req.body) : {};
}

function str(b: Record<string, unknown>, field: string, required = true): string | undefined {
  const v = b[field];
  if (v === undefined || v === null || v === '') {
    if (required) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: field });
    return undefined;
  }
  if (typeof v !== 'string') throw invalid(`Invalid value for parameter '${field}': expected a string`);
  return v;
}

function roles(b: Record<string, unknown>, required: boolean): Grant[] {
  const v = b.roles;
  if (v === undefined || v === null) {
    if (required) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'roles' });
    return [];
  }
  if (!Array.isArray(v) || v.length > 100 || !v.every((x) => typeof x === 'string' && x.length <= 600)) {
    throw invalid("Invalid value for parameter 'roles': expected a list of roles such as \"contributor\" or \"viewer:model/churn\"");
  }
  return (v as string[]).map(parseGrant);
}

/** Administrators act on anyone's tokens; others on their own only. */
function requireSelfOrAdmin(auth: RequestAuth, user: string): void {
  if (auth.can('admin')) return;
  if (user.normalize('NFC').trim().toLowerCase() !== auth.subject.name.normalize('NFC').toLowerCase()) auth.require('admin');
}

export function identityRoutes(r: MlflowRouter, ws: Workspace): void {
  r.get('/users/whoami', SIGNED_IN, async ({ auth }) => ({
    name: auth.subject.name, via: auth.via,
    roles: auth.subject.unrestricted ? ['admin'] : auth.subject.grants.map(formatGrant),
    auth: auth.subject.unrestricted ? 'off' : 'on',
  }));

  r.get('/users', ADMIN, async () => ({ users: (await ws.identities.list()).map(principalJson) }));

  r.get('/users/get', ADMIN, async ({ p }) => ({ user: principalJson(await ws.identities.get(p.requireString('name'))) }));

  r.post('/users/create', ADMIN, async ({ req, who }) => {
    const b = body(req);
    const kind = (str(b, 'kind', false) ?? 'user') as PrincipalKind;
    if (kind !== 'user' && kind !== 'service') throw invalid(`Invalid value '${excerpt(kind)}' for parameter 'kind': must be user or service`);
    return { user: principalJson(await ws.identities.createPrincipal(str(b, 'name')!, kind, roles(b, false), who)) };
  });

  r.post('/users/grant', ADMIN, async ({ req, who }) => {
    const b = body(req);
    return { user: principalJson(await ws.identities.grant(str(b, 'name')!, roles(b, true), who)) };
  });

  r.post('/users/revoke', ADMIN, async ({ req, who }) => {
    const b = body(req);
    return { user: principalJson(await ws.identities.revoke(str(b, 'name')!, roles(b, true), who)) };
  });

  for (const [path, disabled] of [['/users/disable', true], ['/users/enable', false]] as const) {
    r.post(path, ADMIN, async ({ req, who }) => ({ user: principalJson(await ws.identities.setDisabled(str(body(req), 'name')!, disabled, who)) }));
  }

  r.post('/tokens/create', SIGNED_IN, async ({ req, who, auth }) => {
    const b = body(req);
    const user = str(b, 'user')!;
    requireSelfOrAdmin(auth, user);
    const { token, info } = await ws.identities.createToken(user, { expires: str(b, 'expires', false), description: str(b, 'description', false) }, who);
    return { token, token_info: tokenJson(info) };
  });

  r.get('/tokens', SIGNED_IN, async ({ p, auth }) => {
    const user = p.optionalString('user') || undefined;
    if (user === undefined) auth.require('admin');
    else requireSelfOrAdmin(auth, user);
    return { tokens: (await ws.identities.listTokens(user)).map(tokenJson) };
  });

  r.post('/tokens/revoke', SIGNED_IN, async ({ req, who, auth }) => {
    const id = str(body(req), 'id')!;
    const owner = await ws.identities.tokenOwner(id);
    if (!auth.can('admin')) {
      // Someone else's token is as unknown to a non-administrator as a token that does not exist.
      if (owner === undefined || owner.toLowerCase() !== auth.subject.name.toLowerCase()) throw new TrellisError('TRELLIS_TOKEN_NOT_FOUND', { id: excerpt(id) });
    }
    return { token_info: tokenJson(await ws.identities.revokeToken(id, who)) };
  });
}
