/**
 * `trellis server`'s edge options as a user runs them: `--allowed-hosts` and
 * `$TRELLIS_ALLOWED_HOSTS` extend the hosts the server answers to, `--request-timeout` bounds a
 * slow request, and a bind to a non-loopback address is announced with a warning that the server
 * has no authentication, in both log formats, beside a banner naming the address really bound.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../test-helpers/run-cli.js';
import { startServerProcess as start } from '../test-helpers/server-process.js';


/** GET over 127.0.0.1 with the Host header given (fetch will not send a Host of our choosing). */
function getWithHost(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => { body += b.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    r.on('error', reject);
    r.end();
  });
}

const jsonLines = (text: string): Record<string, unknown>[] => text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('trellis server: hosts, timeouts and the non-loopback warning', () => {
  let dir: string;
  let args: () => string[];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-server-security-'));
    args = () => ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`, 'server'];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('answers the loopback names by default and refuses a foreign Host, naming --allowed-hosts', async () => {
    const s = await start([...args(), '--log-format', 'json']);
    try {
      assert.equal((await getWithHost(s.port, '/health', `127.0.0.1:${s.port}`)).status, 200);
      assert.equal((await getWithHost(s.port, '/health', `localhost:${s.port}`)).status, 200);
      const evil = await getWithHost(s.port, '/health', `evil.example:${s.port}`);
      assert.equal(evil.status, 403);
      assert.match(evil.body, /--allowed-hosts evil\.example/);
      // Loopback only: no warning.
      const lines = jsonLines(s.output().stdout + s.output().stderr);
      assert.ok(!lines.some((o) => (o.level as number) >= 40), s.output().stdout);
      const banner = lines.find((o) => o.event === 'listening')!;
      assert.equal(banner.bound, banner.url);
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });

  it('--allowed-hosts and $TRELLIS_ALLOWED_HOSTS add names; the option wins over the variable', async () => {
    const s = await start([...args(), '--log-format', 'json', '--allowed-hosts', 'trellis.example, mlflow.example:8443'], { TRELLIS_ALLOWED_HOSTS: 'env.example' });
    try {
      assert.equal((await getWithHost(s.port, '/health', `trellis.example:${s.port}`)).status, 200);
      assert.equal((await getWithHost(s.port, '/health', 'mlflow.example:8443')).status, 200);
      assert.equal((await getWithHost(s.port, '/health', `mlflow.example:${s.port}`)).status, 403);
      assert.equal((await getWithHost(s.port, '/health', `env.example:${s.port}`)).status, 403);
      assert.equal((await getWithHost(s.port, '/health', `127.0.0.1:${s.port}`)).status, 200);
    } finally {
      await s.stop();
    }
    const e = await start([...args(), '--log-format', 'json'], { TRELLIS_ALLOWED_HOSTS: 'env.example' });
    try {
      assert.equal((await getWithHost(e.port, '/health', `env.example:${e.port}`)).status, 200);
      assert.equal((await getWithHost(e.port, '/health', `other.example:${e.port}`)).status, 403);
    } finally {
      await e.stop();
    }
  });

  it('refuses an allowed host or a timeout it cannot use, in one line', () => {
    const bad = runCli([...args(), '--allowed-hosts', 'http://trellis.example', '--log-format', 'pretty']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr.trim(), /^error: --allowed-hosts: 'http:\/\/trellis\.example' is not a host name: give names such as/);
    const env = runCli([...args(), '--log-format', 'pretty'], { env: { TRELLIS_ALLOWED_HOSTS: 'a.example,b c' } });
    assert.equal(env.code, 1);
    assert.match(env.stderr, /\$TRELLIS_ALLOWED_HOSTS: 'b c' is not a host name/);
    for (const t of ['abc', '0', '-5', '']) {
      const r = runCli([...args(), '--request-timeout', t, '--log-format', 'pretty']);
      assert.equal(r.code, 1, `--request-timeout '${t}'`);
      assert.equal(r.stderr.trim(), `error: --request-timeout '${t}' is not a number of seconds: give a number of at least 1, e.g. 3600`);
    }
  });

  it('--request-timeout closes a connection whose request never ends', async () => {
    const s = await start([...args(), '--log-format', 'json', '--request-timeout', '1']);
    try {
      const closedAfter = await new Promise<number>((resolve, reject) => {
        const t0 = Date.now();
        const socket = connect(s.port, '127.0.0.1', () => {
          socket.write(`POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":`);
        });
        socket.resume();
        socket.on('error', reject);
        socket.on('close', () => resolve(Date.now() - t0));
        setTimeout(() => { socket.destroy(); reject(new Error('the server kept the connection open')); }, 10_000).unref();
      });
      assert.ok(closedAfter < 5000, `closed after ${closedAfter} ms`);
    } finally {
      await s.stop();
    }
  });

  it('turns auth on by itself on a non-loopback address, and refuses to start when nobody could administer it', () => {
    const r = runCli([...args(), '--host', '0.0.0.0', '--port', '0', '--log-format', 'pretty'], { env: { TRELLIS_ADMIN_TOKEN: undefined } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Cannot start with authentication on: no user holds the admin role/);
    for (const [secret, why] of [['', 'set but empty'], ['changeme', 'too weak'], ['x'.repeat(30), 'too weak']] as const) {
      const weak = runCli([...args(), '--auth', '--port', '0', '--log-format', 'pretty'], { env: { TRELLIS_ADMIN_TOKEN: secret } });
      assert.equal(weak.code, 1, weak.stdout);
      assert.match(weak.stderr, new RegExp(`TRELLIS_ADMIN_TOKEN is ${why}`));
      assert.ok(secret === '' || !weak.stderr.includes(secret), 'the secret is not echoed');
    }
  });

  it('with an admin secret: requires a token, takes the secret as Bearer or as Basic for the admin user, and says auth is on', async () => {
    const secret = 'S3cure-random-admin-secret-0123456789';
    const s = await start([...args(), '--host', '0.0.0.0', '--log-format', 'json'], { TRELLIS_ADMIN_TOKEN: secret, TRELLIS_ADMIN_USER: 'chief' });
    try {
      const lines = jsonLines(s.output().stdout + s.output().stderr);
      const banner = lines.find((o) => o.event === 'listening')!;
      assert.equal(banner.auth, 'on');
      assert.ok(!lines.some((o) => o.event === 'no-authentication'));
      assert.ok(!(s.output().stdout + s.output().stderr).includes(secret), 'the secret is never logged');
      const me = (headers: Record<string, string>) => fetch(`${s.url}/api/2.0/trellis/users/whoami`, { headers });
      assert.equal((await me({})).status, 401);
      assert.equal((await fetch(`${s.url}/health`)).status, 200, 'probes stay public');
      const asBearer = await me({ authorization: `Bearer ${secret}` });
      assert.equal(asBearer.status, 200);
      assert.equal(((await asBearer.json()) as { name: string }).name, 'chief');
      assert.equal((await me({ authorization: `Basic ${Buffer.from(`chief:${secret}`).toString('base64')}` })).status, 200);
      assert.equal((await me({ authorization: `Bearer ${secret}x` })).status, 401);
    } finally {
      await s.stop();
    }
  });

  it('json: --no-auth on a non-loopback bind names the bound address and warns that there is no authentication', async () => {
    const s = await start([...args(), '--host', '0.0.0.0', '--no-auth', '--log-format', 'json']);
    try {
      const lines = jsonLines(s.output().stdout + s.output().stderr);
      const banner = lines.find((o) => o.event === 'listening')!;
      assert.equal(banner.bound, `http://0.0.0.0:${s.port}`);
      assert.equal(banner.url, `http://127.0.0.1:${s.port}`);
      assert.equal(banner.msg, `trellis server listening on http://0.0.0.0:${s.port} (auth off) — MLflow clients: export MLFLOW_TRACKING_URI=http://127.0.0.1:${s.port}`);
      assert.equal(banner.auth, 'off');
      const warning = lines.find((o) => o.event === 'no-authentication');
      assert.ok(warning, s.output().stdout);
      assert.equal(warning.level, 40);
      assert.match(String(warning.msg), new RegExp(`^--no-auth: the server listens on http://0\\.0\\.0\\.0:${s.port}, which is not a loopback address, and has NO AUTHENTICATION: anyone who can reach this address can read, change and delete`));
      // The client URL the banner gives works.
      assert.equal((await fetch(`${s.url}/health`)).status, 200);
    } finally {
      await s.stop();
    }
  });

  it('pretty: the same warning on stderr, the banner naming the bound address', async () => {
    const s = await start([...args(), '--host', '0.0.0.0', '--no-auth', '--log-format', 'pretty']);
    try {
      const { stdout, stderr } = s.output();
      assert.match(stdout, new RegExp(`^trellis server listening on http://0\\.0\\.0\\.0:${s.port}$`, 'm'));
      assert.match(stdout, new RegExp(`^  MLflow clients: export MLFLOW_TRACKING_URI=http://127\\.0\\.0\\.1:${s.port}$`, 'm'));
      assert.match(stdout, /^ {2}auth: {6}off/m);
      assert.match(stderr, new RegExp(`^warning: --no-auth: the server listens on http://0\\.0\\.0\\.0:${s.port}, which is not a loopback address, and has NO AUTHENTICATION`, 'm'));
    } finally {
      await s.stop();
    }
  });
});
