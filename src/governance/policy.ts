/**
 * Who may do what: the actions a route or an engine asks for, the roles that allow them, and the
 * one function that decides ({@link allows}). Deny by default: a principal may do only what one of
 * its grants allows, on the object the grant names or, for a global grant, on every object.
 *
 * | role | actions |
 * |---|---|
 * | viewer | read |
 * | contributor | read, write (log runs, register versions, add datasets, run pipelines) |
 * | pipeline-deployer | read, write, deploy pipelines that carry user code |
 * | approver | read, approve |
 * | deployer | read, deploy models to serving (create and change deployments of the models granted), invoke endpoints |
 * | invoker | invoke endpoints (predictions from `trellis serve`), nothing else |
 * | admin | everything, users and tokens included |
 */
import { invalid } from '../core/errors.js';
import type { Grant, Principal, Role, ScopeType } from '../store/ports/identities.js';

export const ACTIONS = ['read', 'write', 'deploy-pipeline', 'approve', 'deploy', 'invoke', 'admin'] as const;
export type Action = (typeof ACTIONS)[number];

export const ROLE_ACTIONS: Readonly<Record<Role, readonly Action[]>> = {
  viewer: ['read'],
  contributor: ['read', 'write'],
  'pipeline-deployer': ['read', 'write', 'deploy-pipeline'],
  approver: ['read', 'approve'],
  deployer: ['read', 'deploy', 'invoke'],
  invoker: ['invoke'],
  admin: ACTIONS,
};

/** One object a permission can be granted on; experiments by id, the others by name. */
export interface ObjectRef {
  type: Exclude<ScopeType, 'global'>;
  id: string;
}

/** Who is asking: a principal with its grants, or `anonymous` (no credentials, auth off). */
export interface Subject {
  name: string;
  grants: readonly Grant[];
  /** Auth is off: every action is allowed (the loopback default; see docs/security.md). */
  unrestricted?: boolean;
}

export function subjectOf(p: Principal): Subject {
  return { name: p.name, grants: p.disabled ? [] : p.grants };
}

const foldId = (s: string): string => s.normalize('NFC').toLowerCase();

/**
 * Whether `s` may do `action` on `obj`, or — with no object — on everything (a global grant). Names
 * compare as the stores compare them (NFC, case-insensitively), so a grant on `Churn` covers `churn`.
 */
export function allows(s: Subject, action: Action, obj?: ObjectRef): boolean {
  if (s.unrestricted) return true;
  for (const g of s.grants) {
    if (!ROLE_ACTIONS[g.role]?.includes(action)) continue;
    if (g.scopeType === 'global') return true;
    if (obj && g.scopeType === obj.type && foldId(g.scopeId) === foldId(obj.id)) return true;
  }
  return false;
}

/** Whether `s` holds `action` on every object (a global grant): lists need no filtering then. */
export function allowsEverywhere(s: Subject, action: Action): boolean {
  return allows(s, action);
}

/** A grant as the CLI takes it and the API prints it: `contributor`, `viewer:model/churn`. */
export function formatGrant(g: Grant): string {
  return g.scopeType === 'global' ? g.role : `${g.role}:${g.scopeType}/${g.scopeId}`;
}

/** "contributor", "viewer:model/churn": the form the CLI takes and prints. */
export function parseGrant(text: string): Grant {
  const [role, scope, ...rest] = text.split(':');
  if (rest.length) throw invalid(`Invalid role '${text}': write <role> or <role>:<type>/<name>`);
  if (scope === undefined) return { role: role as Role, scopeType: 'global', scopeId: '' };
  const slash = scope.indexOf('/');
  if (slash < 1 || slash === scope.length - 1) {
    throw invalid(`Invalid scope '${scope}' in '${text}': write <type>/<name> with type experiment, model, dataset or pipeline`);
  }
  return { role: role as Role, scopeType: scope.slice(0, slash) as ScopeType, scopeId: scope.slice(slash + 1) };
}
