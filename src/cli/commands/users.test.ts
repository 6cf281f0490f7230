/**
 * `trellis users` and `trellis tokens` as the README shows them: the first administrator on the
 * local store, then a server with auth on, used through the CLI with TRELLIS_TOKEN and with the
 * variables MLflow clients read.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../test-helpers/run-cli.js';
import { startServerProcess, type RunningServer } from '../test-helpers/server-process.js';

describe('trellis users and tokens', () => {
  let dir: string;
  let store: string[];
  let server: RunningServer | undefined;
  const clean = { TRELLIS_TOKEN: undefined, MLFLOW_TRACKING_TOKEN: undefined, MLFLOW_TRACKING_USERNAME: undefined, MLFLOW_TRACKING_PASSWORD: undefined, TRELLIS_TRACKING_URI: undefined, MLFLOW_TRACKING_URI: undefined, TRELLIS_ADMIN_TOKEN: undefined };
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { env: { ...clean, ...env } });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-users-'));
    store = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the first administrator and tokens on the local store, and names what is wrong with bad input', () => {
    const created = cli([...store, 'users', 'create', 'ana', '--role', 'admin']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^user ana: admin\nnext: trellis tokens create ana/);
    const svc = cli([...store, '--json', 'users', 'create', 'ci-bot', '--service', '--role', 'contributor:experiment/Default', '--role', 'viewer:model/churn']);
    assert.equal(svc.code, 0, svc.stderr);
    assert.deepEqual(JSON.parse(svc.stdout).roles, ['contributor:experiment/0', 'viewer:model/churn']);
    const token = cli([...store, '--json', 'tokens', 'create', 'ana', '--expires', '30d', '--description', 'laptop']);
    assert.equal(token.code, 0, token.stderr);
    const t = JSON.parse(token.stdout) as { token: string; token_info: { id: string; expires_at: number } };
    assert.match(t.token, /^trellis_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    assert.ok(Math.abs(t.token_info.expires_at - (Date.now() + 30 * 86_400_000)) < 60_000);
    const listed = cli([...store, 'tokens', 'list']);
    assert.match(listed.stdout, new RegExp(`${t.token_info.id}\\s+ana\\s+active`));
    assert.ok(!listed.stdout.includes(t.token.slice(21)), 'a listing never shows a token');

    for (const [args, message] of [
      [['users', 'create', 'ANA'], /A user or service account named 'ana' already exists/],
      [['users', 'grant', 'ana', '--role', 'superuser'], /Invalid role 'superuser': must be one of viewer, contributor, pipeline-deployer, approver, deployer, invoker, admin/],
      [['users', 'grant', 'ana', '--role', 'viewer:model'], /Invalid scope 'model' in 'viewer:model'/],
      [['users', 'grant', 'ana', '--role', 'viewer:experiment/missing'], /Could not find experiment with name 'missing'/],
      [['users', 'revoke', 'ci-bot', '--role', 'admin'], /'ci-bot' does not hold admin; it holds contributor:experiment\/0, viewer:model\/churn/],
      [['tokens', 'create', 'ghost'], /No user or service account named 'ghost'/],
      [['tokens', 'create', 'ana', '--expires', 'soon'], /Invalid duration 'soon'/],
      [['tokens', 'revoke', 'nope'], /No token with id 'nope'/],
      [['users', 'create', 'a/b'], /must not contain '\/'/],
    ] as const) {
      const r = cli([...store, ...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, message, args.join(' '));
    }
  });

  it('works against a server with auth on, with TRELLIS_TOKEN or the variables MLflow clients read', async () => {
    const adminToken = (JSON.parse(cli([...store, '--json', 'tokens', 'create', 'ana']).stdout) as { token: string }).token;
    server = await startServerProcess([...store, 'server', '--auth', '--log-format', 'json'], clean);
    const remote = (args: string[], env: NodeJS.ProcessEnv = {}) => cli(['--server', server!.url, ...args], env);

    const anonymous = remote(['experiments', 'list']);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /Authentication required/);
    const me = remote(['users', 'whoami'], { TRELLIS_TOKEN: adminToken });
    assert.equal(me.code, 0, me.stderr);
    assert.match(me.stdout, /^ana \(signed in with token:[a-z0-9]{12}\): admin/);
    const bob = remote(['users', 'create', 'bob', '--role', 'viewer'], { TRELLIS_TOKEN: adminToken });
    assert.equal(bob.code, 0, bob.stderr);
    const bobToken = (JSON.parse(remote(['--json', 'tokens', 'create', 'bob'], { TRELLIS_TOKEN: adminToken }).stdout) as { token: string }).token;

    // Bob reads with MLflow's Basic variables, and may not write.
    const basic = { MLFLOW_TRACKING_USERNAME: 'bob', MLFLOW_TRACKING_PASSWORD: bobToken };
    const list = remote(['experiments', 'list'], basic);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /Default/);
    const write = remote(['experiments', 'create', 'bobs'], basic);
    assert.equal(write.code, 1);
    assert.match(write.stderr, /Permission denied: 'bob' may not write on every object/);
    const others = remote(['tokens', 'list', 'ana'], { MLFLOW_TRACKING_TOKEN: bobToken });
    assert.equal(others.code, 1);
    assert.match(others.stderr, /Permission denied/);
    assert.equal(remote(['tokens', 'list', 'bob'], { MLFLOW_TRACKING_TOKEN: bobToken }).code, 0, 'his own tokens he may see');

    const ids = JSON.parse(remote(['--json', 'tokens', 'list', 'bob'], { TRELLIS_TOKEN: adminToken }).stdout) as { id: string }[];
    assert.equal(remote(['tokens', 'revoke', ids[0]!.id], { TRELLIS_TOKEN: adminToken }).code, 0);
    const revoked = remote(['experiments', 'list'], basic);
    assert.equal(revoked.code, 1);
    assert.match(revoked.stderr, /the token was revoked/);
    assert.ok(!(server.output().stdout + server.output().stderr).includes(bobToken.slice(21)), 'no token in the server log');
  });
});
