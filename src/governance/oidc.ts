/**
 * OpenID Connect bearer tokens: checks a JWT from an identity provider (Keycloak, Entra ID, Okta,
 * Dex, …) against the issuer's published keys and turns it into an identity. Only asymmetric
 * signatures are accepted (RSA, RSA-PSS, ECDSA, EdDSA) from an allowlist: never `alg: none`, never
 * an HMAC, so a token "signed" with the provider's public key as a shared secret is refused. The
 * issuer, the audience and an expiry are required; `nbf` and `exp` are checked with a small clock
 * tolerance. Keys come from the issuer's JWKS (found through its discovery document unless given),
 * fetched on first use and again when a token names a key id not yet seen, so a key rotation at
 * the provider is picked up without a restart.
 *
 * Every refusal is a TRELLIS_UNAUTHENTICATED whose message says why (expired, wrong issuer,
 * unknown key id, …) and never repeats the token.
 */
import { createRemoteJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import { TrellisError, invalid, isTrellisError } from '../core/errors.js';

export interface OidcConfig {
  /** The issuer URL exactly as it appears in the tokens' `iss` claim. */
  issuer: string;
  /** The audience (`aud`) a token must be issued for: the client id Trellis is registered as; any one of a list. */
  audience: string | string[];
  /** The JWKS URL; default: the `jwks_uri` of `${issuer}/.well-known/openid-configuration`. */
  jwksUri?: string;
  /** Signature algorithms accepted; default RS256, ES256, PS256 and EdDSA. `none` and HMAC (HS*) are refused. */
  algorithms?: string[];
  /** The claim that names the user; default `preferred_username`, falling back to `sub` when absent. */
  usernameClaim?: string;
  /** Allowed clock skew, in seconds, for `exp` and `nbf`; default 30. */
  clockToleranceSeconds?: number;
  /**
   * The least time, in seconds, between two fetches of the key set when a token names an unknown
   * key id (so that a flood of made-up key ids does not become a flood of requests to the
   * provider); default 30.
   */
  jwksCooldownSeconds?: number;
}

export interface OidcIdentity {
  /** The `sub` claim: the provider's stable id for the user. */
  subject: string;
  /** The user name: the configured claim when it is a non-empty string, else `sub`. */
  name: string;
  issuer: string;
  /** When the token expires, in milliseconds since the epoch. */
  expiresAt?: number;
  /** Every claim of the verified token. */
  claims: Record<string, unknown>;
}

export const DEFAULT_OIDC_ALGORITHMS: readonly string[] = ['RS256', 'ES256', 'PS256', 'EdDSA'];

/** The asymmetric JWS algorithms a configuration may list. */
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

/** Longest token looked at: real ones are a few kilobytes. */
const MAX_TOKEN_LENGTH = 16_384;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Whether `token` has the shape of a compact JWS (three base64url parts, the first a JSON header
 * with an `alg`): tells an OpenID Connect token apart from Trellis's own API tokens. It says
 * nothing of whether the token is valid.
 */
export function looksLikeJwt(token: string): boolean {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !JWT_SHAPE.test(token)) return false;
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8')) as unknown;
    return typeof header === 'object' && header !== null && !Array.isArray(header) && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

/** A verifier for one provider; it keeps the discovered key set between calls. */
export function createOidcVerifier(cfg: OidcConfig): { verify(token: string): Promise<OidcIdentity> } {
  const c = checkConfig(cfg);
  let jwks: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  const keySet = () => {
    jwks ??= (async () => {
      const uri = c.jwksUri ?? (await discoverJwksUri(c.issuer));
      return createRemoteJWKSet(new URL(uri), { cooldownDuration: c.cooldownMs, timeoutDuration: 5000 });
    })();
    // A failed discovery is tried again by the next request rather than remembered.
    jwks.catch(() => { jwks = undefined; });
    return jwks;
  };

  return {
    async verify(token: string): Promise<OidcIdentity> {
      if (!looksLikeJwt(token)) throw refused('the bearer token is not a well-formed JWT');
      let alg: string | undefined;
      let kid: string | undefined;
      try {
        const header = decodeProtectedHeader(token);
        alg = header.alg;
        kid = header.kid;
      } catch {
        throw refused('the bearer token is not a well-formed JWT');
      }
      if (!alg || !c.algorithms.includes(alg)) {
        throw refused(`signature algorithm '${safe(alg)}' is not accepted (accepted: ${c.algorithms.join(', ')})`);
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, await keySet(), {
          issuer: c.issuer,
          audience: c.audience,
          algorithms: c.algorithms,
          clockTolerance: c.clockToleranceSeconds,
          requiredClaims: ['exp', 'sub'],
        }));
      } catch (e) {
        throw explain(e, c, kid);
      }
      const subject = payload.sub;
      if (typeof subject !== 'string' || subject === '') throw refused('the token has no subject (sub)');
      const named = payload[c.usernameClaim];
      return {
        subject,
        name: typeof named === 'string' && named.trim() !== '' ? named : subject,
        issuer: c.issuer,
        ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp * 1000 } : {}),
        claims: { ...payload },
      };
    },
  };
}

/**
 * The configuration from the environment, or `undefined` when TRELLIS_OIDC_ISSUER is not set:
 * TRELLIS_OIDC_ISSUER, TRELLIS_OIDC_AUDIENCE (comma-separated), TRELLIS_OIDC_JWKS_URI,
 * TRELLIS_OIDC_ALGORITHMS (comma-separated), TRELLIS_OIDC_USERNAME_CLAIM. An issuer without an
 * audience (or the reverse) is refused: a token for any client of the provider must not pass.
 */
export function oidcConfigFromEnv(env: NodeJS.ProcessEnv = process.env): OidcConfig | undefined {
  const issuer = env.TRELLIS_OIDC_ISSUER?.trim();
  const audience = list(env.TRELLIS_OIDC_AUDIENCE);
  if (!issuer) {
    if (audience.length) throw invalid('TRELLIS_OIDC_AUDIENCE is set but TRELLIS_OIDC_ISSUER is not: set the issuer URL of the identity provider too');
    return undefined;
  }
  if (!audience.length) {
    throw invalid(`TRELLIS_OIDC_ISSUER is set (${issuer}) but TRELLIS_OIDC_AUDIENCE is not: set it to the client id Trellis is registered as at the provider, so that tokens issued for other applications are refused`);
  }
  const cfg: OidcConfig = { issuer, audience: audience.length === 1 ? audience[0]! : audience };
  const jwksUri = env.TRELLIS_OIDC_JWKS_URI?.trim();
  if (jwksUri) cfg.jwksUri = jwksUri;
  const algorithms = list(env.TRELLIS_OIDC_ALGORITHMS);
  if (algorithms.length) cfg.algorithms = algorithms;
  const usernameClaim = env.TRELLIS_OIDC_USERNAME_CLAIM?.trim();
  if (usernameClaim) cfg.usernameClaim = usernameClaim;
  checkConfig(cfg);
  return cfg;
}

interface CheckedConfig {
  issuer: string;
  audience: string | string[];
  jwksUri?: string;
  algorithms: string[];
  usernameClaim: string;
  clockToleranceSeconds: number;
  cooldownMs: number;
}

function checkConfig(cfg: OidcConfig): CheckedConfig {
  if (typeof cfg.issuer !== 'string' || !cfg.issuer) throw invalid('OpenID Connect: the issuer is required');
  checkUrl('the issuer', cfg.issuer);
  if (cfg.jwksUri !== undefined) checkUrl('the JWKS URI', cfg.jwksUri);
  const audiences = Array.isArray(cfg.audience) ? cfg.audience : [cfg.audience];
  if (!audiences.length || audiences.some((a) => typeof a !== 'string' || !a.trim())) {
    throw invalid('OpenID Connect: the audience is required: the client id Trellis is registered as at the provider');
  }
  const algorithms = cfg.algorithms ?? [...DEFAULT_OIDC_ALGORITHMS];
  if (!algorithms.length) throw invalid('OpenID Connect: at least one signature algorithm must be accepted');
  for (const a of algorithms) {
    if (a.toLowerCase() === 'none') throw invalid("OpenID Connect: algorithm 'none' (unsigned tokens) can never be accepted");
    if (/^HS/i.test(a)) {
      throw invalid(`OpenID Connect: HMAC algorithm '${a}' is refused: a provider's tokens are verified with its public keys, and an HMAC would let anyone holding a public key sign tokens`);
    }
    if (!ASYMMETRIC.has(a)) throw invalid(`OpenID Connect: unknown signature algorithm '${a}'; use some of ${[...ASYMMETRIC].join(', ')}`);
  }
  const tolerance = cfg.clockToleranceSeconds ?? 30;
  if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance > 600) {
    throw invalid('OpenID Connect: the clock tolerance must be from 0 to 600 seconds');
  }
  const cooldown = cfg.jwksCooldownSeconds ?? 30;
  if (!Number.isFinite(cooldown) || cooldown < 0) throw invalid('OpenID Connect: the JWKS cool-down must be 0 seconds or more');
  return {
    issuer: cfg.issuer,
    audience: cfg.audience,
    ...(cfg.jwksUri !== undefined ? { jwksUri: cfg.jwksUri } : {}),
    algorithms,
    usernameClaim: cfg.usernameClaim?.trim() || 'preferred_username',
    clockToleranceSeconds: tolerance,
    cooldownMs: cooldown * 1000,
  };
}

/** HTTPS, or plain HTTP to this machine only (a provider under test): keys fetched in clear could be replaced on the way. */
function checkUrl(what: string, value: string): void {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw invalid(`OpenID Connect: ${what} '${value}' is not a URL`);
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname) || /^127\./.test(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
    throw invalid(`OpenID Connect: ${what} '${value}' must be an https:// URL (plain http is accepted for this machine only)`);
  }
}

/** The `jwks_uri` of the issuer's discovery document, which must name the same issuer. */
async function discoverJwksUri(issuer: string): Promise<string> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const down = (detail: string) => new TrellisError('TRELLIS_OIDC_PROVIDER_UNAVAILABLE', { issuer, detail });
  let doc: unknown;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000), headers: { accept: 'application/json' } });
    if (!res.ok) throw down(`${url} answered HTTP ${res.status}`);
    doc = await res.json();
  } catch (e) {
    if (isTrellisError(e)) throw e;
    throw down(`cannot read ${url}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const d = (doc ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
  if (d.issuer !== issuer) throw down(`the discovery document at ${url} names another issuer (${safe(String(d.issuer))})`);
  if (typeof d.jwks_uri !== 'string') throw down(`the discovery document at ${url} has no jwks_uri`);
  try {
    checkUrl('the discovered JWKS URI', d.jwks_uri);
  } catch (e) {
    throw down(e instanceof Error ? e.message : String(e));
  }
  return d.jwks_uri;
}

/** Why jose refused the token, in words, without the token. */
function explain(e: unknown, c: CheckedConfig, kid: string | undefined): TrellisError {
  if (isTrellisError(e)) return e;
  if (e instanceof joseErrors.JWTExpired) return refused('the token expired');
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.reason === 'missing') return refused(`the token has no '${safe(e.claim)}' claim`);
    switch (e.claim) {
      case 'iss': return refused(`the token is from the wrong issuer (expected ${c.issuer})`);
      case 'aud': return refused(`the token is for the wrong audience (expected ${[c.audience].flat().join(' or ')})`);
      case 'nbf': return refused('the token is not yet valid (nbf is in the future)');
      case 'iat': return refused('the token was issued in the future (iat)');
      default: return refused(`the token's '${safe(e.claim)}' claim is invalid`);
    }
  }
  if (e instanceof joseErrors.JWKSNoMatchingKey) {
    return refused(kid === undefined ? 'no key of the issuer matches the token (it names no key id)' : `unknown key id '${safe(kid)}': the issuer publishes no such key`);
  }
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return refused('the signature does not verify (the token was altered or signed with another key)');
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return refused(`signature algorithm is not accepted (accepted: ${c.algorithms.join(', ')})`);
  if (e instanceof joseErrors.JWKSTimeout) return new TrellisError('TRELLIS_OIDC_PROVIDER_UNAVAILABLE', { issuer: c.issuer, detail: 'the key set did not answer in time' });
  if (e instanceof joseErrors.JWSInvalid || e instanceof joseErrors.JWTInvalid || e instanceof joseErrors.JOSENotSupported) {
    return refused('the bearer token is not a well-formed JWT');
  }
  if (e instanceof joseErrors.JWKSInvalid || !(e instanceof joseErrors.JOSEError) || e.code === 'ERR_JOSE_GENERIC') {
    // The key set could not be fetched or read: the provider's fault, not the token's.
    return new TrellisError('TRELLIS_OIDC_PROVIDER_UNAVAILABLE', { issuer: c.issuer, detail: `cannot read its key set: ${e instanceof Error ? e.message : String(e)}` });
  }
  return refused(`the token is refused (${e.code})`);
}

function refused(detail: string): TrellisError {
  return new TrellisError('TRELLIS_UNAUTHENTICATED', { detail });
}

/** A value taken from a token, fit to be quoted in a message: short and printable. */
function safe(v: string | undefined): string {
  const s = String(v ?? '').replace(/[^\x20-\x7e]/g, '?');
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}

function list(v: string | undefined): string[] {
  return (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}
