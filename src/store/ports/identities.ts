/**
 * Identities: users and service accounts (principals), the roles granted to them (globally or on
 * one experiment, registered model, dataset or pipeline) and their API tokens. The store keeps a
 * token's salt and hash, never the token: `governance/identities.ts` makes tokens, hashes them and
 * checks them. Every change is audited in its own transaction, like every other port's.
 *
 * Invariants the adapter owns: principal names are unique case-insensitively after Unicode NFC
 * (as experiment and model names are); a grant is unique per (principal, role, scope); a token id
 * is unique; a revoked token stays revoked; deleting nothing: a principal is disabled, not removed,
 * so the audit trail's actors keep meaning.
 */
import type { Actor } from './common.js';

export type PrincipalKind = 'user' | 'service';

export const ROLES = ['viewer', 'contributor', 'pipeline-deployer', 'approver', 'deployer', 'invoker', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What a grant applies to: every object, or one object of a kind (an `endpoint` is a deployment, by name). */
export const SCOPE_TYPES = ['global', 'experiment', 'model', 'dataset', 'pipeline', 'endpoint'] as const;
export type ScopeType = (typeof SCOPE_TYPES)[number];

export interface Grant {
  role: Role;
  scopeType: ScopeType;
  /** '' for a global grant; an experiment id, a registered model / dataset / pipeline / endpoint name otherwise. */
  scopeId: string;
}

export interface Principal {
  name: string;
  kind: PrincipalKind;
  createdAt: number;
  createdBy: string;
  disabled: boolean;
  grants: Grant[];
}

export interface TokenRecord {
  /** Public id, also the token's prefix: `trellis_<id>_<secret>`. */
  id: string;
  principal: string;
  /** Hex salt and hex hash of the secret part (see governance/identities.ts). */
  salt: string;
  hash: string;
  description: string;
  createdAt: number;
  createdBy: string;
  expiresAt?: number;
  revokedAt?: number;
  revokedBy?: string;
}

export interface IdentityStore {
  /** Refuses a name taken (case-insensitively) with TRELLIS_PRINCIPAL_EXISTS. */
  createPrincipal(input: { name: string; kind: PrincipalKind; grants?: Grant[] }, who: Actor): Promise<Principal>;
  /** Undefined when there is none (lookups on the request path must not throw for a stranger). */
  findPrincipal(name: string): Promise<Principal | undefined>;
  listPrincipals(): Promise<Principal[]>;
  setPrincipalDisabled(name: string, disabled: boolean, who: Actor): Promise<Principal>;
  /** Adds grants (already held ones are kept once); returns the principal after. */
  grant(name: string, grants: Grant[], who: Actor): Promise<Principal>;
  /** Removes the grants; one not held is an error naming it. */
  revokeGrants(name: string, grants: Grant[], who: Actor): Promise<Principal>;
  /** Whether any enabled principal holds a global admin grant. */
  hasAdmin(): Promise<boolean>;

  createToken(rec: Omit<TokenRecord, 'createdAt' | 'createdBy' | 'revokedAt' | 'revokedBy'>, who: Actor): Promise<TokenRecord>;
  findToken(id: string): Promise<TokenRecord | undefined>;
  listTokens(principal?: string): Promise<TokenRecord[]>;
  /** Revoking a revoked token is a no-op that returns it; an unknown id is TRELLIS_TOKEN_NOT_FOUND. */
  revokeToken(id: string, who: Actor): Promise<TokenRecord>;
}
