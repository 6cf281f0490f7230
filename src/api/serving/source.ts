/**
 * What `trellis serve` serves from, put together from a workspace: the deployments, the registry's
 * resolution of references and its reads of model files with the digests they must match, and —
 * with authentication on — the check of a caller's `invoke` permission on an endpoint (an endpoint
 * opened with `public` takes anonymous callers too).
 */
import { isTrellisError } from '../../core/errors.js';
import type { Authenticator } from '../../governance/identities.js';
import { allows } from '../../governance/policy.js';
import type { Authorize, ServingSource } from '../../serving/engine.js';
import { ServingError } from '../../serving/types.js';
import type { Workspace } from '../../workspace/workspace.js';

export function workspaceSource(ws: Workspace): ServingSource {
  return {
    list: () => ws.deployments.list(),
    resolve: (ref) => ws.registry.resolve(ref),
    // Checked against the recorded digest by the engine's loading worker, which hashes the bytes anyway.
    read: (v) => ws.registry.readVersionFileUnverified(v, 'model.json'),
    watch: (onChange) => ws.deployments.watch(onChange),
  };
}

export function servingAuthorizer(authenticator: Authenticator): Authorize {
  return async (caller, d) => {
    let found;
    try {
      found = await authenticator.authenticate(caller.authorization, (caller.remoteAddress ?? '').replace(/^::ffff:/, ''));
    } catch (e) {
      if (isTrellisError(e)) throw new ServingError('unauthenticated', e.message);
      throw e;
    }
    if (!found) {
      if (d.public) return 'anonymous';
      throw new ServingError('unauthenticated', `Endpoint '${d.name}' requires a token (Authorization: Bearer <token>, or Basic with your user name and a token)`);
    }
    if (!allows(found.subject, 'invoke', { type: 'endpoint', id: d.name })) {
      throw new ServingError('forbidden', `'${found.subject.name}' may not invoke endpoint '${d.name}': it needs the invoker role on endpoint/${d.name}`);
    }
    return found.subject.name;
  };
}
