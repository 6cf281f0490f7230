/**
 * `trellis server` refusing a port it cannot use: one line naming the port and the problem, a
 * non-zero exit code and no stack trace. Its log formats: every line JSON, or every line human;
 * no secret printed either way.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchRefusesPort, listenFailure } from '../../api/serve.js';
import { resolveLogFormat } from '../../api/server-log.js';
import { createTestDatabase } from '../../store/test-helpers/postgres.js';
import { runCli } from '../test-helpers/run-cli.js';
import { startServerProcess } from '../test-helpers/server-process.js';


describe('trellis server --port', () => {
  let dir: string;
  let server: (port: string) => { code: number; stdout: string; stderr: string };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-server-cli-'));
    server = (port) => runCli(['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`, 'server', '--port', port, '--log-format', 'pretty']);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const oneLine = (stderr: string): string => {
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    return lines[0] ?? '';
  };

  it('refuses a port that is not a number', () => {
    const r = server('abc');
    assert.equal(r.code, 1);
    assert.equal(oneLine(r.stderr), "error: --port 'abc' is not a port number: a port is an integer from 0 to 65535, and 0 picks a free one");
  });

  it('refuses what Number() would take for a port but a user did not mean as one', () => {
    for (const text of ['0x10', '', '1e3']) {
      const r = server(text);
      assert.equal(r.code, 1, `--port '${text}': ${r.stdout}${r.stderr}`);
      assert.match(oneLine(r.stderr), /is not a port number/);
    }
  });

  it('refuses a port above 65535', () => {
    const r = server('99999');
    assert.equal(r.code, 1);
    assert.equal(oneLine(r.stderr), 'error: --port 99999 is out of range: a port is an integer from 0 to 65535, and 0 picks a free one');
  });

  describe('a port another process listens on', () => {
    let taken: Server;
    let port: number;
    before(async () => {
      taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      port = (taken.address() as AddressInfo).port;
    });
    after(async () => { await new Promise((resolve) => taken.close(resolve)); });

    it('says the port is in use by another process and exits 1', () => {
      const r = server(String(port));
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(oneLine(r.stderr), `error: cannot listen on 127.0.0.1:${port}: port ${port} is already in use, another process listens there (stop it or choose another --port)`);
      assert.doesNotMatch(r.stdout, /listening on/);
    });
  });

  it('warns at start that browsers and fetch clients refuse a bad port such as 5060', async () => {
    // Hold 5060 so the server cannot stay up: the warning comes before the bind, the error after it.
    const hold = createServer();
    const held = await new Promise<boolean>((resolve) => {
      hold.once('error', () => resolve(false));
      hold.listen(5060, '127.0.0.1', () => resolve(true));
    });
    try {
      const r = server('5060');
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const [warning, error] = r.stderr.trim().split('\n');
      assert.equal(warning, "warning: port 5060 is on the fetch standard's list of bad ports: browsers and fetch clients (Node's fetch too) will refuse to connect to it; choose another --port for them");
      assert.match(error ?? '', /^error: cannot listen on 127\.0\.0\.1:5060: port 5060 is already in use/);
    } finally {
      if (held) await new Promise((resolve) => hold.close(resolve));
    }
  });

  it('explains a privileged port refused to a user without the right to bind it', () => {
    const eacces = Object.assign(new Error('listen EACCES: permission denied 127.0.0.1:80'), { code: 'EACCES' });
    assert.equal(listenFailure(eacces, '127.0.0.1', 80),
      'cannot listen on 127.0.0.1:80: permission denied, port 80 is below 1024 and only root or a process with CAP_NET_BIND_SERVICE may listen there (choose --port 1024 or above)');
    assert.equal(listenFailure(Object.assign(new Error('x'), { code: 'EADDRINUSE' }), '::1', 8080),
      'cannot listen on [::1]:8080: port 8080 is already in use, another process listens there (stop it or choose another --port)');
  });

  it('knows the ports browsers and fetch clients refuse', () => {
    assert.equal(fetchRefusesPort(5060), true);
    assert.equal(fetchRefusesPort(6000), true);
    assert.equal(fetchRefusesPort(5000), false);
    assert.equal(fetchRefusesPort(0), false);
  });
});

/** Starts `trellis … server …` (in `args`) on a free port, makes requests once it listens, stops it; returns what it printed. */
async function serveAndRequest(args: string[], env: NodeJS.ProcessEnv, paths: string[], headers: Record<string, string>): Promise<{ stdout: string; stderr: string; code: number | null; statuses: number[] }> {
  const server = await startServerProcess(args, env);
  const statuses: number[] = [];
  let code: number | null;
  try {
    for (const p of paths) statuses.push((await fetch(`${server.url}${p}`, { headers })).status);
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    code = await server.stop();
  }
  return { ...server.output(), code, statuses };
}

describe('trellis server --log-format', () => {
  let dir: string;
  let db: { uri: string; drop: () => Promise<void> };
  let store: string;
  const PASSWORD = 'pw-s3cr3t-42';
  const TOKEN = 'tok-abcdef-987';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-server-log-'));
    db = await createTestDatabase('trellis_server_log');
    // Trust auth takes any password: the URI holds one, as a production URI would.
    store = db.uri.replace(/^postgres:\/\/([^@:/]+)@/, `postgres://$1:${PASSWORD}@`);
    assert.ok(store.includes(PASSWORD));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await db.drop();
  });
  const args = () => ['--store', store, '--artifacts', `file:${join(dir, 'a')}`, 'server'];
  const paths = ['/health', `/api/2.0/mlflow/experiments/search?max_results=5&token=${TOKEN}`, '/no-such-route'];
  const headers = { authorization: `Bearer ${TOKEN}` };

  it('json: every line one JSON object — banner and requests included — and no password or token', async () => {
    const r = await serveAndRequest([...args(), '--log-format', 'json'], {}, paths, headers);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.statuses, [200, 200, 404]);
    const lines = (r.stdout + r.stderr).split('\n').filter((l) => l.trim());
    const objects = lines.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return assert.fail(`not JSON: ${l}`);
      }
    });
    const banner = objects.find((o) => o.event === 'listening')!;
    assert.match(String(banner.url), /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(banner.msg, `trellis server listening on ${String(banner.url)} (auth off) — MLflow clients: export MLFLOW_TRACKING_URI=${String(banner.url)}`);
    // What scripts grep for still finds the URL alone.
    assert.equal(/listening on (http:\/\/\S+)/.exec(r.stdout)?.[1], banner.url);
    assert.equal(banner.store, store.replace(PASSWORD, 'REDACTED'));
    // One line per request, with method, URL, status and duration.
    const requests = objects.filter((o) => o.msg === 'request completed') as { req: { method: string; url: string }; res: { statusCode: number }; responseTime: number }[];
    assert.deepEqual(requests.map((o) => [o.req.method, o.req.url, o.res.statusCode]), [
      ['GET', '/health', 200], ['GET', '/api/2.0/mlflow/experiments/search?max_results=5&token=REDACTED', 200], ['GET', '/no-such-route', 404],
    ]);
    for (const o of requests) assert.equal(typeof o.responseTime, 'number');
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(`${PASSWORD}|${TOKEN}|Bearer`));
  });

  it('pretty: every line human, a compact line per request, and no password or token', async () => {
    const r = await serveAndRequest(args(), { TRELLIS_LOG_FORMAT: 'pretty' }, paths, headers);
    assert.equal(r.code, 0, r.stderr);
    const lines = (r.stdout + r.stderr).split('\n').filter((l) => l.trim());
    for (const l of lines) {
      let parsed = true;
      try { JSON.parse(l); } catch { parsed = false; }
      assert.ok(!parsed && !/^\s*[{[]/.test(l), `a JSON line in pretty mode: ${l}`);
    }
    assert.ok(lines.some((l) => /^trellis server listening on http:\/\/127\.0\.0\.1:\d+$/.test(l)));
    assert.ok(!lines.some((l) => /listening at/i.test(l)), 'one banner, not Fastify\'s line as well');
    assert.ok(lines.includes(`  store:     ${store.replace(PASSWORD, 'REDACTED')}`), r.stdout);
    const requests = lines.filter((l) => / GET /.test(l));
    assert.equal(requests.length, 3, r.stdout);
    assert.match(requests[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z GET \/health 200 \d+\.\d ms$/);
    assert.match(requests[1]!, / GET \/api\/2\.0\/mlflow\/experiments\/search\?max_results=5&token=REDACTED 200 \d+\.\d ms$/);
    assert.match(requests[2]!, / GET \/no-such-route 404 \d+\.\d ms$/);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(`${PASSWORD}|${TOKEN}|Bearer`));
  });

  it('json: a failure is a JSON line too', () => {
    const r = runCli(['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`, 'server', '--port', 'abc', '--log-format', 'json']);
    assert.equal(r.code, 1);
    const lines = (r.stdout + r.stderr).split('\n').filter((l) => l.trim());
    assert.equal(lines.length, 1, r.stdout + r.stderr);
    const o = JSON.parse(lines[0]!) as { level: number; msg: string };
    assert.equal(o.level, 60);
    assert.equal(o.msg, "--port 'abc' is not a port number: a port is an integer from 0 to 65535, and 0 picks a free one");
  });

  it('refuses a format that is neither json nor pretty, naming both', () => {
    const r = runCli(['--store', `sqlite:${join(dir, 't.db')}`, 'server', '--log-format', 'yaml']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), "error: --log-format 'yaml' is not a log format: use json or pretty [TRELLIS_INVALID_PARAMETER]");
    const e = runCli(['--store', `sqlite:${join(dir, 't.db')}`, 'server'], { env: { TRELLIS_LOG_FORMAT: 'text' } });
    assert.equal(e.code, 1);
    assert.match(e.stderr, /\$TRELLIS_LOG_FORMAT 'text' is not a log format: use json or pretty/);
    // The default: pretty on a terminal, json elsewhere; the flag wins over the variable.
    assert.equal(resolveLogFormat(undefined, {}, true), 'pretty');
    assert.equal(resolveLogFormat(undefined, {}, false), 'json');
    assert.equal(resolveLogFormat('json', { TRELLIS_LOG_FORMAT: 'pretty' }, true), 'json');
    assert.equal(resolveLogFormat(undefined, { TRELLIS_LOG_FORMAT: 'pretty' }, false), 'pretty');
  });
});
