/**
 * Signing in as clients do (Bearer, Basic as MLflow clients send it, OpenID Connect JWTs, a trusted
 * proxy's header), what each principal then sees and may change, and what never happens: a token in
 * a log, a guess without limit, a change audited as anyone but its maker.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { createOidcVerifier } from '../governance/oidc.js';
import { Workspace } from '../workspace/workspace.js';
import { buildServer, type BuildServerOptions } from './server.js';
import { assertError, assertOk, call, mlflow, type Res } from './test-helpers/server.js';

const who = { actor: 'setup' };
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const basic = (user: string, t: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${t}`).toString('base64')}` });
const trellis = (p: string) => `/api/2.0/trellis${p}`;

describe('signing in and what follows from it', () => {
  let dir: string;
  let ws: Workspace;
  const apps: FastifyInstance[] = [];
  let app: FastifyInstance;
  let logged = '';
  let admin: string;
  let carol: string;
  let carolExp: string;
  let otherExp: string;

  async function server(opts: Partial<BuildServerOptions> = {}, failuresAllowed = 1_000): Promise<FastifyInstance> {
    const authenticator = ws.identities.authenticator({ failuresAllowed });
    const a = await buildServer(ws, { version: 't', auth: { authenticator, findPrincipal: (n) => ws.identities.get(n) }, ...opts });
    await a.ready();
    apps.push(a);
    return a;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-auth-'));
    ws = await Workspace.open({ store: `sqlite:${dir}/t.db`, artifacts: `file:${dir}/a` });
    carolExp = await ws.tracking.createExperiment('carol-exp', {}, who);
    otherExp = await ws.tracking.createExperiment('other-exp', {}, who);
    await ws.tracking.createRun({ experimentId: otherExp, runName: 'hidden-run' }, who);
    await ws.identities.createPrincipal('root', 'user', [{ role: 'admin', scopeType: 'global', scopeId: '' }], who);
    await ws.identities.createPrincipal('carol', 'user', [{ role: 'contributor', scopeType: 'experiment', scopeId: 'carol-exp' }], who);
    admin = (await ws.identities.createToken('root', {}, who)).token;
    carol = (await ws.identities.createToken('carol', {}, who)).token;
    const sink = new Writable({ write(chunk, _enc, done) { logged += String(chunk); done(); } });
    app = await server({ logger: { level: 'info', stream: sink } });
  });

  after(async () => {
    for (const a of apps) await a.close();
    await ws.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('takes a token as Bearer, and as the password of Basic with its own user name, as MLflow clients send them', async () => {
    for (const headers of [bearer(carol), basic('carol', carol), basic('CAROL', carol)]) {
      const r = await call(app, 'GET', trellis('/users/whoami'), undefined, headers);
      assertOk(r);
      assert.equal(r.json.name, 'carol');
      assert.deepEqual(r.json.roles, [`contributor:experiment/${carolExp}`]);
    }
    assertError(await call(app, 'GET', trellis('/users/whoami'), undefined, basic('root', carol)), 401, 'UNAUTHENTICATED', 'does not belong');
  });

  it('shows a principal only the experiments and runs it may read, and audits its changes under its name', async () => {
    const exps = await call(app, 'GET', mlflow('/experiments/search?max_results=100'), undefined, bearer(carol));
    assertOk(exps);
    assert.deepEqual(exps.json.experiments.map((e: { name: string }) => e.name), ['carol-exp']);
    const all = await call(app, 'GET', mlflow('/experiments/search?max_results=100'), undefined, bearer(admin));
    assert.ok(all.json.experiments.length >= 3);
    const runs = await call(app, 'POST', mlflow('/runs/search'), { experiment_ids: [otherExp] }, bearer(carol));
    assertOk(runs);
    assert.ok(!runs.body.includes('hidden-run'), runs.body);
    const created = await call(app, 'POST', mlflow('/runs/create'), { experiment_id: carolExp, run_name: 'carols' }, bearer(carol));
    assertOk(created);
    assertError(await call(app, 'POST', mlflow('/runs/create'), { experiment_id: otherExp }, bearer(carol)), 403, 'PERMISSION_DENIED', `'carol' may not write on experiment '${otherExp}'`);
    assertError(await call(app, 'POST', mlflow('/experiments/create'), { name: 'new' }, bearer(carol)), 403, 'PERMISSION_DENIED');
    const [event] = await ws.audit.events({ entityType: 'run', entityId: created.json.run.info.run_id });
    assert.equal(event?.actor, 'carol');
  });

  it('manages users and tokens by REST: administrators for anyone, others for their own tokens only', async () => {
    assertError(await call(app, 'POST', trellis('/users/create'), { name: 'dave', roles: ['viewer'] }, bearer(carol)), 403, 'PERMISSION_DENIED');
    const dave = await call(app, 'POST', trellis('/users/create'), { name: 'dave', roles: ['viewer', `contributor:experiment/${carolExp}`] }, bearer(admin));
    assertOk(dave);
    assert.deepEqual(dave.json.user.roles.sort(), [`contributor:experiment/${carolExp}`, 'viewer']);
    assertError(await call(app, 'POST', trellis('/users/create'), { name: 'x', roles: ['wizard'] }, bearer(admin)), 400, 'INVALID_PARAMETER_VALUE', "Invalid role 'wizard'");
    assertError(await call(app, 'POST', trellis('/tokens/create'), { user: 'dave' }, bearer(carol)), 403, 'PERMISSION_DENIED');
    const own = await call(app, 'POST', trellis('/tokens/create'), { user: 'carol', expires: '1d', description: 'laptop' }, bearer(carol));
    assertOk(own);
    assert.match(own.json.token, /^trellis_[a-z0-9]{12}_/);
    assert.equal(own.json.token_info.state, 'active');
    const daves = await call(app, 'POST', trellis('/tokens/create'), { user: 'dave' }, bearer(admin));
    assertOk(daves);
    // Another's token is as unknown to carol as a token that does not exist.
    assertError(await call(app, 'POST', trellis('/tokens/revoke'), { id: daves.json.token_info.id }, bearer(carol)), 404, 'RESOURCE_DOES_NOT_EXIST');
    const listed = await call(app, 'GET', trellis('/tokens?user=carol'), undefined, bearer(carol));
    assertOk(listed);
    assert.ok(!listed.body.includes(own.json.token.slice(21)), 'a listing never holds a token');
    assertError(await call(app, 'GET', trellis('/tokens'), undefined, bearer(carol)), 403, 'PERMISSION_DENIED');
    // Revoked and disabled take effect at once, through the cache.
    assertOk(await call(app, 'GET', trellis('/users/whoami'), undefined, bearer(own.json.token)));
    assertOk(await call(app, 'POST', trellis('/tokens/revoke'), { id: own.json.token_info.id }, bearer(carol)));
    assertError(await call(app, 'GET', trellis('/users/whoami'), undefined, bearer(own.json.token)), 401, 'UNAUTHENTICATED', 'revoked');
    assertOk(await call(app, 'GET', trellis('/users/whoami'), undefined, bearer(daves.json.token)));
    assertOk(await call(app, 'POST', trellis('/users/disable'), { name: 'dave' }, bearer(admin)));
    assertError(await call(app, 'GET', trellis('/users/whoami'), undefined, bearer(daves.json.token)), 401, 'UNAUTHENTICATED', 'disabled');
    const events = await ws.audit.events({ entityType: 'principal', entityId: 'dave' });
    assert.deepEqual(events.map((e) => [e.actor, e.action]), [['root', 'create_principal'], ['root', 'disable_principal']]);
  });

  it('never writes a token to the log', async () => {
    await call(app, 'GET', trellis(`/users/whoami?token=${carol}`), undefined, bearer(carol));
    await call(app, 'GET', trellis('/users/whoami'), undefined, basic('carol', carol));
    await call(app, 'GET', trellis('/users/whoami'), undefined, bearer(`${carol}x`));
    assert.ok(logged.includes('/users/whoami'), 'requests are logged');
    assert.ok(!logged.includes(carol.slice(21)), 'no token secret in the log');
    assert.ok(!logged.includes(Buffer.from(`carol:${carol}`).toString('base64')), 'no Basic credential in the log');
  });

  it('refuses a source after ten failed attempts a minute with 429, even with a good token', async () => {
    const strict = await server({}, 10);
    const from = (ip: string, headers: Record<string, string>) => strict.inject({ method: 'GET', url: trellis('/users/whoami'), headers, remoteAddress: ip });
    for (let i = 0; i < 10; i++) assert.equal((await from('10.0.0.7', bearer(`trellis_aaaaaaaaaaaa_${'x'.repeat(43)}`))).statusCode, 401);
    const blocked = await from('10.0.0.7', bearer(admin));
    assert.equal(blocked.statusCode, 429);
    assert.match(JSON.parse(blocked.body).message, /Too many failed sign-in attempts from 10\.0\.0\.7; try again in \d+ s/);
    assert.equal((await from('10.0.0.8', bearer(admin))).statusCode, 200, 'other sources are not affected');
  });

  it('believes a proxy identity header only from the configured proxy addresses', async () => {
    const authenticator = ws.identities.authenticator();
    const proxied = await buildServer(ws, { auth: { authenticator, proxyHeader: 'X-Forwarded-User', trustedProxies: ['10.1.1.1'], findPrincipal: (n) => ws.identities.get(n) } });
    apps.push(proxied);
    const as = (ip: string) => proxied.inject({ method: 'GET', url: trellis('/users/whoami'), headers: { 'x-forwarded-user': 'root' }, remoteAddress: ip });
    const trusted = await as('10.1.1.1');
    assert.equal(trusted.statusCode, 200);
    assert.equal(JSON.parse(trusted.body).name, 'root');
    assert.equal((await as('10.9.9.9')).statusCode, 401, 'from anywhere else the header is ignored');
    await assert.rejects(buildServer(ws, { auth: { authenticator, proxyHeader: 'x-forwarded-user' } }), /TRELLIS_TRUSTED_PROXIES/);
  });

  describe('OpenID Connect', () => {
    let idp: Server;
    let issuer: string;
    let sign: (claims: Record<string, unknown>) => Promise<string>;

    before(async () => {
      const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
      idp = createServer((req, res) => {
        res.setHeader('content-type', 'application/json');
        if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
        else if (req.url === '/jwks') res.end(JSON.stringify({ keys: [jwk] }));
        else res.writeHead(404).end('{}');
      });
      await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
      issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
      sign = (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(issuer).setAudience('trellis').setIssuedAt().setExpirationTime('5m').sign(privateKey);
    });

    after(() => new Promise<void>((r) => idp.close(() => r())));

    it('signs a provider user in as the principal of the same name, with its roles; unknown users hold none', async () => {
      const oidc = createOidcVerifier({ issuer, audience: 'trellis' });
      const a = await buildServer(ws, { auth: { authenticator: ws.identities.authenticator({ oidc }) } });
      apps.push(a);
      const me = async (t: string): Promise<Res> => call(a, 'GET', trellis('/users/whoami'), undefined, bearer(t));
      const asCarol = await me(await sign({ sub: 'u-123', preferred_username: 'carol' }));
      assertOk(asCarol);
      assert.equal(asCarol.json.via, 'oidc');
      assert.deepEqual(asCarol.json.roles, [`contributor:experiment/${carolExp}`]);
      const stranger = await sign({ sub: 'u-999', preferred_username: 'mallory' });
      assert.deepEqual((await me(stranger)).json.roles, []);
      assertError(await call(a, 'GET', mlflow('/experiments/get?experiment_id=0'), undefined, bearer(stranger)), 403, 'PERMISSION_DENIED');
      const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', preferred_username: 'root', iss: issuer, aud: 'trellis', exp: 9e9 })).toString('base64url')}.`;
      assertError(await me(unsigned), 401, 'UNAUTHENTICATED');
    });
  });
});
