/**
 * API tokens and authentication: making a token (random, shown once, stored as a salted SHA-256
 * hash), checking the credential a request carries, and the first administrator from an
 * environment secret.
 *
 * A token reads `trellis_<id>_<secret>`: the id finds its record without a scan, the secret (32
 * random bytes) is what is hashed. A 256-bit random secret needs no slow password hash: nothing
 * short of the secret itself matches its hash, so one SHA-256 per request is all the checking costs.
 * Records are cached for {@link TOKEN_CACHE_MS} so a request costs no store read; a revocation or
 * disabled user made through this process takes effect at once, one made through another server
 * sharing the database within that time. Comparisons are timing-safe.
 *
 * Credentials are read as MLflow clients send them: `Authorization: Bearer <token>`
 * (MLFLOW_TRACKING_TOKEN, TRELLIS_TOKEN) and HTTP Basic with the user's name and a token as the
 * password (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD). A bearer that is a JWT goes to
 * the OpenID Connect verifier when one is configured. Failed attempts are counted per source and
 * refused for a while past {@link FAILURES_ALLOWED} (429), so a token cannot be guessed online.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { TrellisError, invalid } from '../core/errors.js';
import type { Actor } from '../store/ports/common.js';
import type { Grant, IdentityStore, Principal, PrincipalKind, TokenRecord } from '../store/ports/identities.js';
import { looksLikeJwt, type OidcIdentity } from './oidc.js';
import { allows, subjectOf, type Subject } from './policy.js';

const TOKEN_RE = /^trellis_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
export const TOKEN_CACHE_MS = 10_000;
export const FAILURES_ALLOWED = 10;
export const FAILURE_WINDOW_MS = 60_000;
/** Secrets an administrator must not use for the first admin. */
const WEAK_SECRETS = new Set(['admin', 'password', 'changeme', 'change-me', 'secret', 'trellis', 'token', 'default', 'test', '123456']);
export const MIN_ADMIN_SECRET = 24;

const hashSecret = (salt: string, secret: string): string => createHash('sha256').update(Buffer.from(salt, 'hex')).update(secret, 'utf8').digest('hex');

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Parses a duration such as `30d`, `12h`, `90m`, `3600s`; `never` gives undefined. */
export function parseDuration(text: string): number | undefined {
  if (text === 'never') return undefined;
  const m = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  if (!m) throw invalid(`Invalid duration '${text.slice(0, 40)}': write a number and a unit, e.g. 30d, 12h, 90m (or 'never')`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  const ms = Number(m[1]) * unit;
  if (ms <= 0) throw invalid(`Invalid duration '${text}': it must be longer than zero`);
  return ms;
}

/** Makes a token for `principal`; the returned `token` is the only time its secret exists outside the caller. */
export async function issueToken(
  store: IdentityStore, principal: string, opts: { expiresInMs?: number; description?: string; now?: number }, who: Actor,
): Promise<{ token: string; record: TokenRecord }> {
  const id = randomBytes(12).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '').padEnd(12, '0').slice(0, 12);
  const secret = randomBytes(32).toString('base64url');
  const salt = randomBytes(16).toString('hex');
  const now = opts.now ?? Date.now();
  const record = await store.createToken({
    id, principal, salt, hash: hashSecret(salt, secret), description: opts.description ?? '',
    ...(opts.expiresInMs !== undefined ? { expiresAt: now + opts.expiresInMs } : {}),
  }, who);
  return { token: `trellis_${id}_${secret}`, record };
}

export interface AuthenticatorOptions {
  /** TRELLIS_ADMIN_TOKEN: a secret that signs in as {@link adminName} (created with a global admin grant at start). */
  adminSecret?: string;
  adminName?: string;
  /** Verifies OpenID Connect bearer tokens; its users are principals of the same name (roles granted as to any user). */
  oidc?: { verify(token: string): Promise<OidcIdentity> };
  now?: () => number;
  /** Failed attempts a source may make per minute before it is refused with 429; default {@link FAILURES_ALLOWED}. */
  failuresAllowed?: number;
}

interface CachedToken {
  record: TokenRecord;
  principal: Principal | undefined;
  fetchedAt: number;
}

/** The outcome of checking a request's credentials. */
export interface Authenticated {
  subject: Subject;
  /** How the principal proved itself, for the audit trail: `token:<id>`, `oidc`, `admin-secret`. */
  via: string;
}

/** Checks an admin secret given in the environment; refuses an empty, short or well-known one. */
export function checkAdminSecret(secret: string): void {
  if (secret.trim() === '') throw new TrellisError('TRELLIS_AUTH_CONFIG', { detail: 'TRELLIS_ADMIN_TOKEN is set but empty' });
  if (secret.length < MIN_ADMIN_SECRET || WEAK_SECRETS.has(secret.toLowerCase()) || new Set(secret).size < 8) {
    throw new TrellisError('TRELLIS_AUTH_CONFIG', {
      detail: `TRELLIS_ADMIN_TOKEN is too weak: use a random secret of at least ${MIN_ADMIN_SECRET} characters (e.g. \`openssl rand -base64 32\`)`,
    });
  }
}

export class Authenticator {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly failures = new Map<string, { count: number; since: number }>();
  private readonly adminHash?: string;
  private readonly adminSalt = randomBytes(16).toString('hex');
  readonly adminName: string;
  private readonly now: () => number;

  constructor(private readonly store: IdentityStore, private readonly opts: AuthenticatorOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.adminName = opts.adminName ?? 'admin';
    if (opts.adminSecret !== undefined) {
      checkAdminSecret(opts.adminSecret);
      this.adminHash = hashSecret(this.adminSalt, opts.adminSecret);
    }
  }

  /**
   * Makes sure the server can be administered: the admin secret's principal exists with a global
   * admin grant, or some enabled principal has one. Refuses to start otherwise, saying how to fix it.
   */
  async prepare(who: Actor): Promise<void> {
    if (this.adminHash !== undefined) {
      const p = await this.store.findPrincipal(this.adminName);
      const admin: Grant = { role: 'admin', scopeType: 'global', scopeId: '' };
      if (!p) await this.store.createPrincipal({ name: this.adminName, kind: 'user', grants: [admin] }, who);
      else if (!subjectOf(p).grants.some((g) => g.role === 'admin' && g.scopeType === 'global')) {
        if (p.disabled) throw new TrellisError('TRELLIS_AUTH_CONFIG', { detail: `the admin user '${p.name}' named by TRELLIS_ADMIN_USER is disabled` });
        await this.store.grant(p.name, [admin], who);
      }
      return;
    }
    if (!(await this.store.hasAdmin())) {
      throw new TrellisError('TRELLIS_AUTH_CONFIG', { detail: 'no user holds the admin role, so nobody could manage users and tokens' });
    }
  }

  /** Forgets cached records so a change made through this process takes effect at once. */
  forget(tokenId?: string): void {
    if (tokenId === undefined) this.tokens.clear();
    else this.tokens.delete(tokenId);
  }

  /**
   * The subject behind an `Authorization` header, undefined when there is none; throws
   * TRELLIS_UNAUTHENTICATED for a credential that does not check out and TRELLIS_TOO_MANY_ATTEMPTS
   * once `source` failed too often. The message never repeats the credential.
   */
  async authenticate(header: string | undefined, source: string): Promise<Authenticated | undefined> {
    if (header === undefined || header === '') return undefined;
    this.refuseIfBlocked(source);
    try {
      return await this.check(header);
    } catch (e) {
      this.fail(source);
      throw e;
    }
  }

  private async check(header: string): Promise<Authenticated> {
    const space = header.indexOf(' ');
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    const value = space < 0 ? '' : header.slice(space + 1).trim();
    if (scheme === 'bearer') {
      if (value === '') throw unauthenticated('the Bearer credential is empty');
      return this.bearer(value);
    }
    if (scheme === 'basic') {
      let decoded: string;
      try {
        decoded = Buffer.from(value, 'base64').toString('utf8');
      } catch {
        throw unauthenticated('the Basic credential is not base64');
      }
      const colon = decoded.indexOf(':');
      if (colon < 0) throw unauthenticated('the Basic credential is not <user>:<token>');
      const user = decoded.slice(0, colon);
      const password = decoded.slice(colon + 1);
      const a = await this.bearer(password);
      if (a.subject.name.normalize('NFC').toLowerCase() !== user.normalize('NFC').trim().toLowerCase()) {
        throw unauthenticated('the token does not belong to the user name given');
      }
      return a;
    }
    throw unauthenticated(`the Authorization scheme '${scheme.slice(0, 20)}' is not supported; use Bearer or Basic`);
  }

  private async bearer(token: string): Promise<Authenticated> {
    if (this.adminHash !== undefined && !TOKEN_RE.test(token) && sameHex(hashSecret(this.adminSalt, token), this.adminHash)) {
      const p = await this.store.findPrincipal(this.adminName);
      if (!p || p.disabled) throw unauthenticated('the admin user is disabled');
      return { subject: subjectOf(p), via: 'admin-secret' };
    }
    const m = TOKEN_RE.exec(token);
    if (!m) {
      if (this.opts.oidc && looksLikeJwt(token)) {
        const id = await this.opts.oidc.verify(token);
        const p = await this.store.findPrincipal(id.name);
        if (p?.disabled) throw unauthenticated(`the user '${p.name}' is disabled`);
        return { subject: p ? subjectOf(p) : { name: id.name, grants: [] }, via: 'oidc' };
      }
      throw unauthenticated('the token is not one this server issued');
    }
    const [, id, secret] = m as unknown as [string, string, string];
    const cached = await this.lookup(id);
    const rec = cached?.record;
    // Hash even when the id is unknown, so that timing does not tell which ids exist.
    const ok = sameHex(hashSecret(rec?.salt ?? '00'.repeat(16), secret), rec?.hash ?? '00'.repeat(32));
    if (!rec || !ok) throw unauthenticated('the token is not valid');
    if (rec.revokedAt !== undefined) throw unauthenticated('the token was revoked');
    if (rec.expiresAt !== undefined && rec.expiresAt <= this.now()) throw unauthenticated('the token expired');
    const p = cached.principal;
    if (!p) throw unauthenticated('the token is not valid');
    if (p.disabled) throw unauthenticated(`the user '${p.name}' is disabled`);
    return { subject: subjectOf(p), via: `token:${rec.id}` };
  }

  private async lookup(id: string): Promise<CachedToken | undefined> {
    const hit = this.tokens.get(id);
    const now = this.now();
    if (hit && now - hit.fetchedAt < TOKEN_CACHE_MS) return hit;
    const record = await this.store.findToken(id);
    if (!record) {
      this.tokens.delete(id);
      return undefined;
    }
    const entry = { record, principal: await this.store.findPrincipal(record.principal), fetchedAt: now };
    // Bounded: ids are random, so a flood of made-up ids never reaches here (they are not stored).
    if (this.tokens.size > 10_000) this.tokens.clear();
    this.tokens.set(id, entry);
    return entry;
  }

  private refuseIfBlocked(source: string): void {
    const f = this.failures.get(source);
    if (!f) return;
    const age = this.now() - f.since;
    if (age >= FAILURE_WINDOW_MS) {
      this.failures.delete(source);
      return;
    }
    if (f.count >= (this.opts.failuresAllowed ?? FAILURES_ALLOWED)) {
      throw new TrellisError('TRELLIS_TOO_MANY_ATTEMPTS', { source, retryAfter: Math.ceil((FAILURE_WINDOW_MS - age) / 1000) });
    }
  }

  private fail(source: string): void {
    const now = this.now();
    const f = this.failures.get(source);
    if (!f || now - f.since >= FAILURE_WINDOW_MS) {
      if (this.failures.size > 100_000) this.failures.clear();
      this.failures.set(source, { count: 1, since: now });
    } else f.count++;
  }
}

function unauthenticated(detail: string): TrellisError {
  return new TrellisError('TRELLIS_UNAUTHENTICATED', { detail });
}

/** A token as the CLI and REST routes show it: its record without the salt and hash, and its state. */
export type TokenInfo = Omit<TokenRecord, 'salt' | 'hash'> & { state: 'active' | 'expired' | 'revoked' };

export function tokenInfo(t: TokenRecord, now = Date.now()): TokenInfo {
  const { salt: _salt, hash: _hash, ...rest } = t;
  return { ...rest, state: t.revokedAt !== undefined ? 'revoked' : t.expiresAt !== undefined && t.expiresAt <= now ? 'expired' : 'active' };
}

/**
 * Users, service accounts, their roles and tokens: the one door the CLI and the REST routes use.
 * Grants on an experiment may name it; they are stored by id (names can change).
 */
export class IdentityService {
  private readonly authenticators = new Set<Authenticator>();

  constructor(
    private readonly store: IdentityStore,
    private readonly experimentId: (nameOrId: string) => Promise<string>,
  ) {}

  async createPrincipal(name: string, kind: PrincipalKind, grants: Grant[], who: Actor): Promise<Principal> {
    return this.store.createPrincipal({ name, kind, grants: await this.resolve(grants) }, who);
  }

  get(name: string): Promise<Principal> {
    return this.store.findPrincipal(name).then((p) => p ?? Promise.reject(new TrellisError('TRELLIS_PRINCIPAL_NOT_FOUND', { name: name.slice(0, 100) })));
  }

  list(): Promise<Principal[]> {
    return this.store.listPrincipals();
  }

  async grant(name: string, grants: Grant[], who: Actor): Promise<Principal> {
    return this.changed(await this.store.grant(name, await this.resolve(grants), who));
  }

  async revoke(name: string, grants: Grant[], who: Actor): Promise<Principal> {
    return this.changed(await this.store.revokeGrants(name, await this.resolve(grants), who));
  }

  async setDisabled(name: string, disabled: boolean, who: Actor): Promise<Principal> {
    return this.changed(await this.store.setPrincipalDisabled(name, disabled, who));
  }

  async createToken(user: string, opts: { expires?: string; description?: string }, who: Actor): Promise<{ token: string; info: TokenInfo }> {
    const expiresInMs = opts.expires === undefined ? undefined : parseDuration(opts.expires);
    const { token, record } = await issueToken(this.store, user, { expiresInMs, description: opts.description }, who);
    return { token, info: tokenInfo(record) };
  }

  async listTokens(user?: string): Promise<TokenInfo[]> {
    const now = Date.now();
    return (await this.store.listTokens(user)).map((t) => tokenInfo(t, now));
  }

  /** The principal a token belongs to; undefined for an unknown id. */
  async tokenOwner(id: string): Promise<string | undefined> {
    return (await this.store.findToken(id))?.principal;
  }

  async revokeToken(id: string, who: Actor): Promise<TokenInfo> {
    const t = await this.store.revokeToken(id, who);
    for (const a of this.authenticators) a.forget(t.id);
    return tokenInfo(t);
  }

  /** Whether identities are set up in this store (an administrator exists): auth is meant to be on. */
  inUse(): Promise<boolean> {
    return this.store.hasAdmin();
  }

  /**
   * The scheduler's check before a deployed version that runs user code starts: its deployer must
   * hold pipeline-deployer on the pipeline now (a revoked role or a disabled user stops later runs).
   */
  async authorizeUserCode(run: { pipeline: string; version: number; deployer: string }): Promise<void> {
    const p = await this.store.findPrincipal(run.deployer);
    const subject = p ? subjectOf(p) : undefined;
    if (subject && allows(subject, 'deploy-pipeline', { type: 'pipeline', id: run.pipeline })) return;
    const why = !p ? `'${run.deployer}' is not a user of this server` : p.disabled ? `'${p.name}' is disabled` : `'${p.name}' does not hold pipeline-deployer on it`;
    throw new TrellisError('TRELLIS_PERMISSION_DENIED', {
      detail: `version ${run.version} of pipeline '${run.pipeline}' runs commands or TypeScript, and its deployer ${why} (deploy it again as a pipeline-deployer)`,
    });
  }

  /** An authenticator over these identities; changes made through this service reach it at once. */
  authenticator(opts: AuthenticatorOptions = {}): Authenticator {
    const a = new Authenticator(this.store, opts);
    this.authenticators.add(a);
    return a;
  }

  private changed(p: Principal): Principal {
    for (const a of this.authenticators) a.forget();
    return p;
  }

  private async resolve(grants: Grant[]): Promise<Grant[]> {
    return Promise.all(grants.map(async (g) => (g.scopeType === 'experiment' && g.scopeId.trim() !== '' ? { ...g, scopeId: await this.experimentId(g.scopeId.trim()) } : g)));
  }
}
