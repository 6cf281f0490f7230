import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../api/server.js';
import { buildPackage } from '../../pipelines/package.js';
import { Workspace } from '../../workspace/workspace.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cli, initProject } from '../test-helpers/trellis-project.js';
import { deployPackage } from './pipelines-deploy.js';

/** A port nothing listens on: taken from the system, then released. */
function closedPort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}

describe('trellis pipelines deploy', () => {
  let dir: string;
  let storeDir: string;
  let ws: Workspace;
  let app: FastifyInstance;
  let url: string;

  before(async () => {
    dir = await initProject('rentals');
    storeDir = mkdtempSync(join(tmpdir(), 'trellis-deploy-server-'));
    ws = await Workspace.open({ store: `sqlite:${join(storeDir, 't.db')}`, artifacts: `file:${join(storeDir, 'a')}` });
    app = await buildServer(ws);
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await app.close();
    await ws.close();
    rmSync(storeDir, { recursive: true, force: true });
    rmSync(dirname(dir), { recursive: true, force: true });
  });

  const versions = async () => {
    const res = await fetch(`${url}/api/2.0/trellis/pipelines/versions?name=rentals`);
    assert.equal(res.status, 200);
    return (await res.json()) as Record<string, unknown>;
  };

  it('creates version 1, says "already deployed" for the same package, and makes version 2 when a component changes', async () => {
    const first = await cli(['pipelines', 'deploy', 'pipeline.ts', '--server', url], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const sha = (await buildPackage(join(dir, 'pipeline.ts'))).sha256;
    assert.equal(first.stdout.trim(), `deployed rentals version 1 (package sha256 ${sha})`);

    // The package `trellis ci` writes, read and verified rather than rebuilt.
    writeFileSync(join(dir, 'rentals.pkg.json'), JSON.stringify(await buildPackage(join(dir, 'pipeline.ts'))));
    const again = await cli(['pipelines', 'deploy', 'rentals.pkg.json', '--server', `${url}/`], { cwd: dir });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), `rentals: already deployed as version 1 (package sha256 ${sha})`);

    appendFileSync(join(dir, 'components/drop-columns.ts'), '\n// Columns are matched by exact name.\n');
    const changed = await cli(['--json', 'pipelines', 'deploy', 'pipeline.ts', '--server', url], { cwd: dir });
    assert.equal(changed.code, 0, changed.stderr);
    const r = JSON.parse(changed.stdout) as { name: string; version: number | string; created: boolean; sha256: string };
    assert.deepEqual({ name: r.name, version: String(r.version), created: r.created }, { name: 'rentals', version: '2', created: true });
    assert.notEqual(r.sha256, sha);
    assert.match(JSON.stringify(await versions()), new RegExp(r.sha256));
  });

  it("reports the server's refusal with its message, naming the field", async () => {
    const pkg = await buildPackage(join(dir, 'pipeline.ts'));
    const tampered = structuredClone(pkg);
    tampered.files[0]!.contentBase64 = Buffer.from('export const x = 1;\n').toString('base64');
    await assert.rejects(deployPackage(tampered, url), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'TRELLIS_PACKAGE_INVALID');
      assert.match(e.message, new RegExp(`^the server at ${url.replace(/[.]/g, '\\.')} refused the deployment \\(400\\): .*files\\[0\\]\\.sha256`));
      return true;
    });
  });

  it('refuses a tampered package file before sending it', async () => {
    const pkg = JSON.parse(readFileSync(join(dir, 'rentals.pkg.json'), 'utf8')) as { files: { contentBase64: string }[] };
    pkg.files[1]!.contentBase64 = Buffer.from('// changed\n').toString('base64');
    writeFileSync(join(dir, 'bad.pkg.json'), JSON.stringify(pkg));
    const r = await cli(['pipelines', 'deploy', 'bad.pkg.json', '--server', url], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: The pipeline package is refused: files\[1\]\.sha256: .* \[TRELLIS_PACKAGE_INVALID\]/);
  });

  it('fails clearly when nothing listens at the server URL', async () => {
    const port = await closedPort();
    const r = await cli(['pipelines', 'deploy', 'pipeline.ts', '--server', `http://127.0.0.1:${port}`], { cwd: dir });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^error: Cannot reach the Trellis server at http://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port} \\[TRELLIS_SERVER_UNREACHABLE\\]`));
  });

  it('the starter project, deployed, runs on a server scheduler working elsewhere: its component imports trellis/pipelines, its sample data comes in the package', async () => {
    const fresh = await initProject('bikes');
    // The package as the project's `npm run ci` builds it.
    const script = (JSON.parse(readFileSync(join(fresh, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.ci!;
    const include = [...script.matchAll(/--include (\S+)/g)].map((m) => m[1]!);
    assert.deepEqual(include, ['data/bike-sample.csv']);
    const pkg = await buildPackage(join(fresh, 'pipeline.ts'), { include });
    assert.deepEqual(pkg.ir.triggers, [{ api: true }]);

    const home = mkdtempSync(join(tmpdir(), 'trellis-deploy-scheduler-'));
    // As root, a deployed pipeline's code runs as nobody: it must reach the packages and files here.
    chmodSync(home, 0o1777);
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const server = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), fileURLToPath(new URL('../main.ts', import.meta.url)), 'server', '--port', '0', '--scheduler'], {
      cwd: home, env: { ...env, TRELLIS_HOME: home, TRELLIS_USER: 'tester', TRELLIS_LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    server.stdout.on('data', (b: Buffer) => { out += b.toString('utf8'); });
    server.stderr.on('data', (b: Buffer) => { out += b.toString('utf8'); });
    const closed = new Promise<number | null>((resolve) => server.on('close', resolve));
    try {
      let at: string | undefined;
      for (let i = 0; i < 600 && !at && server.exitCode === null; i++) {
        at = /listening on (http:\/\/\S+)/.exec(out)?.[1];
        if (!at) await sleep(50);
      }
      assert.ok(at, out);
      writeFileSync(join(fresh, 'bikes.pkg.json'), JSON.stringify(pkg));
      const deployed = await cli(['pipelines', 'deploy', 'bikes.pkg.json', '--server', at], { cwd: fresh });
      assert.equal(deployed.code, 0, deployed.stderr);
      const asked = await cli(['pipelines', 'trigger', 'bikes', '--reason', 'first run', '--server', at], { cwd: fresh });
      assert.equal(asked.code, 0, asked.stderr);
      let t: { status: string; detail?: string } | undefined;
      for (let i = 0; i < 1200; i++) {
        const res = await fetch(`${at}/api/2.0/trellis/pipelines/triggers?pipeline=bikes`);
        t = ((await res.json()) as { triggers: { status: string; detail?: string }[] }).triggers[0];
        if (t && !['pending', 'running'].includes(t.status)) break;
        await sleep(100);
      }
      assert.equal(t?.status, 'finished', `${t?.detail}\n${out}`);
    } finally {
      server.kill('SIGTERM');
      await closed;
      rmSync(home, { recursive: true, force: true });
      rmSync(dirname(fresh), { recursive: true, force: true });
    }
  });

  it('asks for the server when none is given, and refuses a URL that is not http', async () => {
    const none = await cli(['pipelines', 'deploy', 'pipeline.ts'], { cwd: dir, env: { TRELLIS_SERVER: '' } });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /deploy needs the server: --server <url> \(or \$TRELLIS_SERVER\)/);
    const ftp = await cli(['pipelines', 'deploy', 'pipeline.ts', '--server', 'ftp://example.com'], { cwd: dir });
    assert.equal(ftp.code, 1);
    assert.match(ftp.stderr, /--server 'ftp:\/\/example\.com' must be an http:\/\/ or https:\/\/ URL/);
  });
});
