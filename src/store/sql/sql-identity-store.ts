/**
 * {@link IdentityStore} in SQL. Every change is one {@link UnitOfWork.write} with its audit event;
 * a token's salt and hash are never written to the trail (the event names the token's id).
 */
import { TrellisError, invalid } from '../../core/errors.js';
import { checkName, excerpt } from '../limits.js';
import type { Actor } from '../ports/common.js';
import {
  ROLES, SCOPE_TYPES, type Grant, type IdentityStore, type Principal, type PrincipalKind, type TokenRecord,
} from '../ports/identities.js';
import { nameTakenFolded, num, optNum, optStr, text } from './rows.js';
import type { Row, SqlExecutor } from './sql-driver.js';
import type { UnitOfWork } from './unit-of-work.js';

const KINDS: readonly PrincipalKind[] = ['user', 'service'];
const TOKEN_ID_RE = /^[a-z0-9]{8,64}$/;
const MAX_DESCRIPTION = 500;
const MAX_SCOPE_ID = 500;

/** A principal name: the rules of other names ({@link checkName}), without `/` or `:` (they separate roles and scopes on the command line). */
export function checkPrincipalName(name: unknown, param = 'name'): string {
  const n = checkName('User', name, { param, max: 128 });
  if (n.includes(':')) throw invalid(`Invalid user name '${excerpt(n)}' in '${param}': it must not contain ':'`);
  return n;
}

export function checkGrant(g: Grant): Grant {
  if (!ROLES.includes(g.role)) throw invalid(`Invalid role '${excerpt(g.role)}': must be one of ${ROLES.join(', ')}`);
  if (!SCOPE_TYPES.includes(g.scopeType)) throw invalid(`Invalid scope '${excerpt(g.scopeType)}': must be one of ${SCOPE_TYPES.join(', ')}`);
  if (g.scopeType === 'global' ? g.scopeId !== '' : typeof g.scopeId !== 'string' || g.scopeId.trim() === '' || g.scopeId.length > MAX_SCOPE_ID) {
    throw invalid(g.scopeType === 'global' ? 'A global grant names no object' : `Invalid ${g.scopeType} in a grant: give its ${g.scopeType === 'experiment' ? 'id' : 'name'}`);
  }
  return { role: g.role, scopeType: g.scopeType, scopeId: g.scopeType === 'global' ? '' : g.scopeId.normalize('NFC').trim() };
}

const grantKey = (g: Grant): string => `${g.role}\u0000${g.scopeType}\u0000${g.scopeId}`;
export const showGrant = (g: Grant): string => (g.scopeType === 'global' ? g.role : `${g.role}:${g.scopeType}/${g.scopeId}`);

function tokenRow(r: Row): TokenRecord {
  const t: TokenRecord = {
    id: text(r.id), principal: text(r.principal), salt: text(r.salt), hash: text(r.hash), description: text(r.description),
    createdAt: num(r.created_at), createdBy: text(r.created_by),
  };
  const expiresAt = optNum(r.expires_at);
  const revokedAt = optNum(r.revoked_at);
  const revokedBy = optStr(r.revoked_by);
  if (expiresAt !== undefined) t.expiresAt = expiresAt;
  if (revokedAt !== undefined) t.revokedAt = revokedAt;
  if (revokedBy !== undefined) t.revokedBy = revokedBy;
  return t;
}

/** What the trail says of a token: never its salt or hash. */
const tokenAudit = (t: TokenRecord) => ({
  principal: t.principal, description: t.description, expiresAt: t.expiresAt ?? null, revokedAt: t.revokedAt ?? null,
});

export class SqlIdentityStore implements IdentityStore {
  constructor(private readonly uow: UnitOfWork) {}

  async createPrincipal(input: { name: string; kind: PrincipalKind; grants?: Grant[] }, who: Actor): Promise<Principal> {
    const name = checkPrincipalName(input.name);
    if (!KINDS.includes(input.kind)) throw invalid(`Invalid principal kind '${excerpt(input.kind)}': must be user or service`);
    const grants = dedupe((input.grants ?? []).map(checkGrant));
    return this.uow.write(who, async (tx, audit) => {
      const taken = await nameTakenFolded(tx, 'principals', 'created_at', name);
      if (taken !== undefined) throw new TrellisError('TRELLIS_PRINCIPAL_EXISTS', { name: excerpt(taken) });
      const now = this.uow.now();
      await tx.run('INSERT INTO principals (name, kind, created_at, created_by, disabled) VALUES (?,?,?,?,0)', [name, input.kind, now, who.actor]);
      for (const g of grants) await this.insertGrant(tx, name, g, now, who);
      const p = (await this.principalIn(tx, name))!;
      await audit('create_principal', 'principal', name, null, { kind: p.kind, grants: p.grants.map(showGrant) });
      return p;
    });
  }

  async findPrincipal(name: string): Promise<Principal | undefined> {
    if (typeof name !== 'string' || name.length > 512) return undefined;
    return this.principalIn(this.uow.read, name.normalize('NFC').trim());
  }

  async listPrincipals(): Promise<Principal[]> {
    const db = this.uow.read;
    const grants = await this.grantsBy(db);
    return (await db.query('SELECT * FROM principals ORDER BY name')).map((r) => principalRow(r, grants.get(text(r.name)) ?? []));
  }

  async setPrincipalDisabled(name: string, disabled: boolean, who: Actor): Promise<Principal> {
    return this.uow.write(who, async (tx, audit) => {
      const before = await this.requirePrincipal(tx, name);
      if (before.disabled === disabled) return before;
      await tx.run('UPDATE principals SET disabled = ? WHERE name = ?', [disabled ? 1 : 0, before.name]);
      await audit(disabled ? 'disable_principal' : 'enable_principal', 'principal', before.name, { disabled: before.disabled }, { disabled });
      return (await this.principalIn(tx, before.name))!;
    });
  }

  async grant(name: string, grants: Grant[], who: Actor): Promise<Principal> {
    const wanted = dedupe(grants.map(checkGrant));
    if (wanted.length === 0) throw invalid('Give at least one role to grant');
    return this.uow.write(who, async (tx, audit) => {
      const before = await this.requirePrincipal(tx, name);
      const held = new Set(before.grants.map(grantKey));
      const added = wanted.filter((g) => !held.has(grantKey(g)));
      const now = this.uow.now();
      for (const g of added) await this.insertGrant(tx, before.name, g, now, who);
      if (added.length === 0) return before;
      const after = (await this.principalIn(tx, before.name))!;
      await audit('grant_roles', 'principal', before.name, { grants: before.grants.map(showGrant) }, { grants: after.grants.map(showGrant), added: added.map(showGrant) });
      return after;
    });
  }

  async revokeGrants(name: string, grants: Grant[], who: Actor): Promise<Principal> {
    const wanted = dedupe(grants.map(checkGrant));
    if (wanted.length === 0) throw invalid('Give at least one role to revoke');
    return this.uow.write(who, async (tx, audit) => {
      const before = await this.requirePrincipal(tx, name);
      const held = new Set(before.grants.map(grantKey));
      const missing = wanted.find((g) => !held.has(grantKey(g)));
      if (missing) throw invalid(`'${before.name}' does not hold ${showGrant(missing)}; it holds ${before.grants.map(showGrant).join(', ') || 'no role'}`);
      for (const g of wanted) {
        await tx.run('DELETE FROM principal_grants WHERE principal = ? AND role = ? AND scope_type = ? AND scope_id = ?', [before.name, g.role, g.scopeType, g.scopeId]);
      }
      const after = (await this.principalIn(tx, before.name))!;
      await audit('revoke_roles', 'principal', before.name, { grants: before.grants.map(showGrant) }, { grants: after.grants.map(showGrant), removed: wanted.map(showGrant) });
      return after;
    });
  }

  async hasAdmin(): Promise<boolean> {
    const rows = await this.uow.read.query(
      "SELECT 1 FROM principal_grants g JOIN principals p ON p.name = g.principal WHERE g.role = 'admin' AND g.scope_type = 'global' AND p.disabled = 0 LIMIT 1",
    );
    return rows.length > 0;
  }

  async createToken(rec: Omit<TokenRecord, 'createdAt' | 'createdBy' | 'revokedAt' | 'revokedBy'>, who: Actor): Promise<TokenRecord> {
    if (!TOKEN_ID_RE.test(rec.id)) throw invalid('Invalid token id');
    if (!/^[0-9a-f]{16,128}$/.test(rec.salt) || !/^[0-9a-f]{32,128}$/.test(rec.hash)) throw invalid('Invalid token salt or hash');
    const description = rec.description ?? '';
    if (typeof description !== 'string' || description.length > MAX_DESCRIPTION) throw invalid(`Invalid token description: at most ${MAX_DESCRIPTION} characters`);
    if (rec.expiresAt !== undefined && !Number.isSafeInteger(rec.expiresAt)) throw invalid('Invalid token expiry');
    return this.uow.write(who, async (tx, audit) => {
      const p = await this.requirePrincipal(tx, rec.principal);
      const now = this.uow.now();
      await tx.run(
        'INSERT INTO api_tokens (id, principal, salt, hash, description, created_at, created_by, expires_at) VALUES (?,?,?,?,?,?,?,?)',
        [rec.id, p.name, rec.salt, rec.hash, description, now, who.actor, rec.expiresAt ?? null],
      );
      const t = tokenRow((await tx.query('SELECT * FROM api_tokens WHERE id = ?', [rec.id]))[0]!);
      await audit('create_token', 'token', t.id, null, tokenAudit(t));
      return t;
    });
  }

  async findToken(id: string): Promise<TokenRecord | undefined> {
    if (typeof id !== 'string' || !TOKEN_ID_RE.test(id)) return undefined;
    const [r] = await this.uow.read.query('SELECT * FROM api_tokens WHERE id = ?', [id]);
    return r ? tokenRow(r) : undefined;
  }

  async listTokens(principal?: string): Promise<TokenRecord[]> {
    const db = this.uow.read;
    if (principal === undefined) return (await db.query('SELECT * FROM api_tokens ORDER BY created_at, id')).map(tokenRow);
    const p = await this.requirePrincipal(db, principal);
    return (await db.query('SELECT * FROM api_tokens WHERE principal = ? ORDER BY created_at, id', [p.name])).map(tokenRow);
  }

  async revokeToken(id: string, who: Actor): Promise<TokenRecord> {
    return this.uow.write(who, async (tx, audit) => {
      const [r] = TOKEN_ID_RE.test(id) ? await tx.query('SELECT * FROM api_tokens WHERE id = ?', [id]) : [];
      if (!r) throw new TrellisError('TRELLIS_TOKEN_NOT_FOUND', { id: excerpt(id) });
      const before = tokenRow(r);
      if (before.revokedAt !== undefined) return before;
      await tx.run('UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ?', [this.uow.now(), who.actor, id]);
      const after = tokenRow((await tx.query('SELECT * FROM api_tokens WHERE id = ?', [id]))[0]!);
      await audit('revoke_token', 'token', id, tokenAudit(before), tokenAudit(after));
      return after;
    });
  }

  private async insertGrant(tx: SqlExecutor, name: string, g: Grant, now: number, who: Actor): Promise<void> {
    await tx.run('INSERT INTO principal_grants (principal, role, scope_type, scope_id, created_at, created_by) VALUES (?,?,?,?,?,?)', [name, g.role, g.scopeType, g.scopeId, now, who.actor]);
  }

  private async requirePrincipal(db: SqlExecutor, name: string): Promise<Principal> {
    const n = typeof name === 'string' ? name.normalize('NFC').trim() : '';
    const p = n && n.length <= 512 ? await this.principalIn(db, n) : undefined;
    if (!p) throw new TrellisError('TRELLIS_PRINCIPAL_NOT_FOUND', { name: excerpt(name) });
    return p;
  }

  private async principalIn(db: SqlExecutor, name: string): Promise<Principal | undefined> {
    let [r] = await db.query('SELECT * FROM principals WHERE name = ?', [name]);
    // Names are unique case-insensitively: `Alice` finds `alice`.
    if (!r) {
      const stored = await nameTakenFolded(db, 'principals', 'created_at', name);
      if (stored === undefined) return undefined;
      [r] = await db.query('SELECT * FROM principals WHERE name = ?', [stored]);
      if (!r) return undefined;
    }
    const grants = await db.query('SELECT role, scope_type, scope_id FROM principal_grants WHERE principal = ? ORDER BY role, scope_type, scope_id', [text(r.name)]);
    return principalRow(r, grants.map(grantRow));
  }

  private async grantsBy(db: SqlExecutor): Promise<Map<string, Grant[]>> {
    const out = new Map<string, Grant[]>();
    for (const r of await db.query('SELECT principal, role, scope_type, scope_id FROM principal_grants ORDER BY principal, role, scope_type, scope_id')) {
      const k = text(r.principal);
      out.set(k, [...(out.get(k) ?? []), grantRow(r)]);
    }
    return out;
  }
}

function grantRow(r: Row): Grant {
  return { role: text(r.role) as Grant['role'], scopeType: text(r.scope_type) as Grant['scopeType'], scopeId: text(r.scope_id) };
}

function principalRow(r: Row, grants: Grant[]): Principal {
  return { name: text(r.name), kind: text(r.kind) as PrincipalKind, createdAt: num(r.created_at), createdBy: text(r.created_by), disabled: num(r.disabled) !== 0, grants };
}

function dedupe(grants: Grant[]): Grant[] {
  const seen = new Map<string, Grant>();
  for (const g of grants) seen.set(grantKey(g), g);
  return [...seen.values()];
}
