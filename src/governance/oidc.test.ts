/**
 * OpenID Connect token checks against a real identity provider stand-in: a local HTTP server that
 * publishes a discovery document and a JWKS of freshly generated RSA and EC keys.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { isTrellisError } from '../core/errors.js';
import { createOidcVerifier, looksLikeJwt, oidcConfigFromEnv, type OidcConfig } from './oidc.js';

const AUDIENCE = 'trellis';
const now = () => Math.floor(Date.now() / 1000);

interface Provider { issuer: string; keys: JWK[]; jwksFetches: number; server: Server }

async function startProvider(): Promise<Provider> {
  const p = { issuer: '', keys: [] as JWK[], jwksFetches: 0 } as Provider;
  p.server = createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ issuer: p.issuer, jwks_uri: `${p.issuer}/jwks`, id_token_signing_alg_values_supported: ['RS256', 'ES256'] }));
    } else if (req.url === '/jwks') {
      p.jwksFetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: p.keys }));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => p.server.listen(0, '127.0.0.1', resolve));
  p.issuer = `http://127.0.0.1:${(p.server.address() as AddressInfo).port}`;
  return p;
}

interface Key { kid: string; alg: string; privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK }

async function makeKey(alg: 'RS256' | 'ES256', kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, jwk };
}

function sign(key: Key, claims: JWTPayload, opts: { iss?: string; aud?: string; exp?: number | null; kid?: string } = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: opts.kid ?? key.kid, typ: 'JWT' }).setIssuedAt();
  if (opts.iss !== undefined) jwt.setIssuer(opts.iss);
  if (opts.aud !== undefined) jwt.setAudience(opts.aud);
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? now() + 300);
  return jwt.sign(key.privateKey);
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Asserts a refusal with the given code whose message matches `why` and does not contain the token. */
async function refuses(p: Promise<unknown>, token: string, why: RegExp, code = 'TRELLIS_UNAUTHENTICATED'): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isTrellisError(e), `expected a TrellisError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, why);
    if (token.length > 8) {
      assert.ok(!e.message.includes(token), 'the message repeats the token');
      for (const part of token.split('.')) if (part.length > 8) assert.ok(!e.message.includes(part), 'the message repeats part of the token');
    }
    return true;
  });
}

describe('OpenID Connect bearer tokens', () => {
  let idp: Provider;
  let rsa: Key;
  let ec: Key;
  let cfg: OidcConfig;
  let verifier: ReturnType<typeof createOidcVerifier>;
  const good = (claims: JWTPayload = { sub: 'u-123', preferred_username: 'alice' }, key?: Key) =>
    sign(key ?? rsa, claims, { iss: idp.issuer, aud: AUDIENCE });

  before(async () => {
    idp = await startProvider();
    rsa = await makeKey('RS256', 'rsa-1');
    ec = await makeKey('ES256', 'ec-1');
    idp.keys = [rsa.jwk, ec.jwk];
    cfg = { issuer: idp.issuer, audience: AUDIENCE };
    verifier = createOidcVerifier(cfg);
  });
  after(() => new Promise<void>((resolve) => idp.server.close(() => resolve())));

  it('verifies a good token, finding the keys through discovery; the name is preferred_username, else sub', async () => {
    const id = await verifier.verify(await good());
    assert.equal(id.subject, 'u-123');
    assert.equal(id.name, 'alice');
    assert.equal(id.issuer, idp.issuer);
    assert.ok(id.expiresAt && id.expiresAt > Date.now() && id.expiresAt <= Date.now() + 301_000);
    assert.equal(id.claims.preferred_username, 'alice');

    const bySub = await verifier.verify(await good({ sub: 'u-456' }, ec));
    assert.equal(bySub.name, 'u-456');
    const blank = await verifier.verify(await good({ sub: 'u-789', preferred_username: '  ' }));
    assert.equal(blank.name, 'u-789');

    const byEmail = createOidcVerifier({ ...cfg, usernameClaim: 'email', audience: ['other', AUDIENCE] });
    assert.equal((await byEmail.verify(await good({ sub: 'u-1', email: 'a@example.org', preferred_username: 'x' }))).name, 'a@example.org');
  });

  it('uses a JWKS URI given in the configuration without discovery', async () => {
    const direct = createOidcVerifier({ ...cfg, jwksUri: `${idp.issuer}/jwks` });
    assert.equal((await direct.verify(await good())).name, 'alice');
  });

  it("refuses an unsigned token (alg 'none')", async () => {
    const t = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'admin', iss: idp.issuer, aud: AUDIENCE, exp: now() + 300 })}.`;
    assert.equal(looksLikeJwt(t), true);
    await refuses(verifier.verify(t), t, /algorithm 'none' is not accepted/);
  });

  it("refuses an HMAC token keyed with the provider's RSA public key (algorithm confusion)", async () => {
    const pem = await exportSPKI(rsa.publicKey);
    const secrets = [Buffer.from(pem), Buffer.from(JSON.stringify(rsa.jwk)), Buffer.from(rsa.jwk.n!, 'base64url')];
    for (const secret of secrets) {
      for (const alg of ['HS256', 'HS512']) {
        const t = await new SignJWT({ sub: 'admin', preferred_username: 'admin' })
          .setProtectedHeader({ alg, kid: rsa.kid, typ: 'JWT' })
          .setIssuer(idp.issuer).setAudience(AUDIENCE).setIssuedAt().setExpirationTime(now() + 300)
          .sign(new Uint8Array(secret));
        await refuses(verifier.verify(t), t, new RegExp(`algorithm '${alg}' is not accepted`));
      }
    }
  });

  it('refuses a token from another issuer or for another audience', async () => {
    const otherIss = await sign(rsa, { sub: 'u-1' }, { iss: 'https://evil.example', aud: AUDIENCE });
    await refuses(verifier.verify(otherIss), otherIss, /wrong issuer/);
    const otherAud = await sign(rsa, { sub: 'u-1' }, { iss: idp.issuer, aud: 'some-other-app' });
    await refuses(verifier.verify(otherAud), otherAud, /wrong audience/);
    const noAud = await sign(rsa, { sub: 'u-1' }, { iss: idp.issuer });
    await refuses(verifier.verify(noAud), noAud, /no 'aud' claim/);
  });

  it('refuses an expired token, one not yet valid, and one without an expiry', async () => {
    const expired = await sign(rsa, { sub: 'u-1' }, { iss: idp.issuer, aud: AUDIENCE, exp: now() - 3600 });
    await refuses(verifier.verify(expired), expired, /expired/);
    const early = await sign(rsa, { sub: 'u-1', nbf: now() + 3600 }, { iss: idp.issuer, aud: AUDIENCE, exp: now() + 7200 });
    await refuses(verifier.verify(early), early, /not yet valid/);
    const forever = await sign(rsa, { sub: 'u-1' }, { iss: idp.issuer, aud: AUDIENCE, exp: null });
    await refuses(verifier.verify(forever), forever, /no 'exp' claim/);
    // Within the clock tolerance (30 s by default), a token that just expired still passes.
    const justNow = await sign(rsa, { sub: 'u-1' }, { iss: idp.issuer, aud: AUDIENCE, exp: now() - 5 });
    assert.equal((await verifier.verify(justNow)).subject, 'u-1');
  });

  it('refuses a token signed with a key the issuer does not publish', async () => {
    const stranger = await makeKey('RS256', 'not-published');
    const t = await sign(stranger, { sub: 'u-1' }, { iss: idp.issuer, aud: AUDIENCE });
    await refuses(verifier.verify(t), t, /unknown key id 'not-published'/);
    // The same stranger key claiming a published key id: the signature does not verify.
    const lying = await sign(stranger, { sub: 'u-1' }, { iss: idp.issuer, aud: AUDIENCE, kid: rsa.kid });
    await refuses(verifier.verify(lying), lying, /signature does not verify/);
  });

  it('refuses a token whose payload was altered after signing', async () => {
    const t = await good({ sub: 'u-1', preferred_username: 'bob' });
    const [h, p, s] = t.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as JWTPayload;
    const tampered = `${h}.${b64({ ...claims, preferred_username: 'admin', sub: 'admin' })}.${s}`;
    await refuses(verifier.verify(tampered), tampered, /signature does not verify/);
    const resigned = `${h}.${p}.${s.slice(0, -4)}AAAA`;
    await refuses(verifier.verify(resigned), resigned, /signature does not verify/);
  });

  it('refuses garbage without reaching the provider', async () => {
    const fetches = idp.jwksFetches;
    const garbage = ['', 'Bearer', 'abc', 'a.b.c', 'a.b', '....', `${b64('not json')}.${b64({})}.x`, `${b64([1])}.${b64({})}.x`,
      'x'.repeat(20_000), `${b64({ alg: 'RS256' })}.!!!.abc`, 'trellis_0123456789abcdef0123456789abcdef'];
    for (const g of garbage) await refuses(verifier.verify(g), g, /not a well-formed JWT/);
    assert.equal(looksLikeJwt('trellis_0123456789abcdef'), false);
    assert.equal(looksLikeJwt(await good()), true);
    const badPayload = `${b64({ alg: 'RS256', kid: rsa.kid })}.${b64('not json')}.${b64('sig')}`;
    await assert.rejects(verifier.verify(badPayload), (e: unknown) => isTrellisError(e, 'TRELLIS_UNAUTHENTICATED'));
    assert.equal(idp.jwksFetches, fetches);
  });

  it('picks up a new key when the provider rotates', async () => {
    const v = createOidcVerifier({ ...cfg, jwksCooldownSeconds: 0 });
    assert.equal((await v.verify(await good())).name, 'alice');
    const next = await makeKey('ES256', 'ec-2');
    const t = await good({ sub: 'u-2', preferred_username: 'carol' }, next);
    await refuses(v.verify(t), t, /unknown key id 'ec-2'/);
    idp.keys = [...idp.keys, next.jwk];
    assert.equal((await v.verify(t)).name, 'carol');
    // A retired key stops working once the key set is fetched again.
    idp.keys = idp.keys.filter((k) => k.kid !== rsa.kid);
    const old = await good();
    const unknown = await good({ sub: 'u-3' }, await makeKey('RS256', 'rsa-9'));
    await refuses(v.verify(unknown), unknown, /unknown key id 'rsa-9'/); // an unknown key id makes the verifier fetch the key set again
    await refuses(v.verify(old), old, /unknown key id 'rsa-1'/);
    idp.keys = [rsa.jwk, ec.jwk];
  });

  it('reports an unreachable provider as unavailable, not as a bad token', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const v = createOidcVerifier({ issuer, audience: AUDIENCE });
    const t = await sign(rsa, { sub: 'u-1' }, { iss: issuer, aud: AUDIENCE });
    await refuses(v.verify(t), t, /identity provider .* is unavailable/, 'TRELLIS_OIDC_PROVIDER_UNAVAILABLE');
  });

  it("refuses a configuration that accepts 'none', an HMAC or an unknown algorithm, or plain http to another host", () => {
    for (const algorithms of [['none'], ['RS256', 'HS256'], ['hs512'], ['XY999'], []]) {
      assert.throws(() => createOidcVerifier({ ...cfg, algorithms }), (e: unknown) => isTrellisError(e, 'TRELLIS_INVALID_PARAMETER'));
    }
    assert.throws(() => createOidcVerifier({ issuer: 'http://idp.example', audience: AUDIENCE }), /must be an https/);
    assert.throws(() => createOidcVerifier({ ...cfg, audience: [] }), /audience is required/);
    assert.throws(() => createOidcVerifier({ ...cfg, jwksUri: 'not a url' }), /not a URL/);
    createOidcVerifier({ issuer: 'https://idp.example/realms/x', audience: AUDIENCE, algorithms: ['ES384', 'EdDSA'] });
  });

  it('reads its configuration from the environment', () => {
    assert.equal(oidcConfigFromEnv({}), undefined);
    assert.deepEqual(oidcConfigFromEnv({ TRELLIS_OIDC_ISSUER: 'https://idp.example', TRELLIS_OIDC_AUDIENCE: 'trellis' }),
      { issuer: 'https://idp.example', audience: 'trellis' });
    assert.deepEqual(oidcConfigFromEnv({
      TRELLIS_OIDC_ISSUER: 'https://idp.example', TRELLIS_OIDC_AUDIENCE: 'a, b', TRELLIS_OIDC_JWKS_URI: 'https://idp.example/keys',
      TRELLIS_OIDC_ALGORITHMS: 'RS256,ES384', TRELLIS_OIDC_USERNAME_CLAIM: 'email',
    }), { issuer: 'https://idp.example', audience: ['a', 'b'], jwksUri: 'https://idp.example/keys', algorithms: ['RS256', 'ES384'], usernameClaim: 'email' });
    assert.throws(() => oidcConfigFromEnv({ TRELLIS_OIDC_ISSUER: 'https://idp.example' }), /TRELLIS_OIDC_AUDIENCE is not/);
    assert.throws(() => oidcConfigFromEnv({ TRELLIS_OIDC_AUDIENCE: 'trellis' }), /TRELLIS_OIDC_ISSUER is not/);
    assert.throws(() => oidcConfigFromEnv({ TRELLIS_OIDC_ISSUER: 'https://idp.example', TRELLIS_OIDC_AUDIENCE: 'x', TRELLIS_OIDC_ALGORITHMS: 'RS256,HS256' }), /HMAC/);
  });
});
