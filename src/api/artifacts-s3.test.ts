/**
 * `trellis server --artifacts s3://…` end to end, against an S3-compatible server started here
 * (s3rver, in a child process): the quickstart writes its dataset, pipeline outputs and model to the bucket; a server
 * process serves them through the MLflow artifact proxy; MLflow-style uploads land in the bucket;
 * the registered model loads back from S3, through the proxy and through `trellis evaluate`; and
 * bytes altered in the bucket are refused.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { runCli } from '../cli/test-helpers/run-cli.js';
import { loadModel } from '../ml/model.js';
import { startS3rverChild, type S3TestServer } from '../store/s3/test-helpers/s3-server.js';
import { toRes, type Res } from './test-helpers/server.js';

const MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
const PREFIX = 'team/trellis';

describe('trellis server --artifacts s3://', () => {
  let s3: S3TestServer;
  let dir: string;
  let g: string[];
  let server: ChildProcess | undefined;
  let url: string;

  before(async () => {
    // In its own process: the CLI runs below with spawnSync, which blocks this process's event loop.
    s3 = await startS3rverChild();
    dir = await mkdtemp(join(tmpdir(), 'trellis-s3-e2e-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `s3://${s3.bucket}/${PREFIX}`];
  });
  after(async () => {
    server?.kill('SIGTERM');
    await s3?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A request to the server process over its socket, answered in the shape the in-process tests use. */
  const api = async (method: string, path: string, body?: unknown): Promise<Res> => {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      init.headers = typeof body === 'string' ? { 'content-type': 'text/plain' } : { 'content-type': 'application/json' };
    }
    const res = await fetch(`${url}${path}`, init);
    return toRes({ statusCode: res.status, body: await res.text(), headers: Object.fromEntries(res.headers) });
  };

  const bucketKeys = async (under: string) => {
    const r = await s3.client().send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${PREFIX}/${under}` }));
    return (r.Contents ?? []).map((o) => o.Key!.slice(PREFIX.length + 1));
  };

  it('runs the quickstart with its artifacts in the bucket', () => {
    const qs = runCli([...g, '--json', 'quickstart'], { env: s3.env });
    assert.equal(qs.code, 0, qs.stderr);
    const summary = JSON.parse(qs.stdout);
    assert.deepEqual([summary.model, summary.version, summary.alias], ['bike-demand', '1', 'champion']);
    assert.equal(summary.secondRun.fromCache, 7);
  });

  it('starts the server on the bucket', async () => {
    server = spawn(process.execPath, ['--import', 'tsx', MAIN, ...g, 'server', '--port', '0'], { env: { ...process.env, ...s3.env, TRELLIS_USER: 'tester', TRELLIS_LOG_FORMAT: 'pretty' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    server.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    url = await new Promise<string>((resolve, reject) => {
      server!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m && /artifacts: .*\n/.test(out)) resolve(m[1]!);
      });
      server!.once('exit', (code) => reject(new Error(`the server exited with ${code}: ${err}`)));
    });
    assert.match(out, new RegExp(`artifacts: s3://${s3.bucket}/${PREFIX}`));
  });

  it('stores what an MLflow client uploads through the artifact proxy in the bucket, and serves it back', async () => {
    const run = await api('POST', '/api/2.0/mlflow/runs/create', { experiment_id: '0' });
    assert.equal(run.status, 200, run.body);
    const root = String(run.json.run.info.artifact_uri).replace(/^mlflow-artifacts:\/?/, '');
    const put = await api('PUT', `/api/2.0/mlflow-artifacts/artifacts/${root}/notes/hello.txt`, 'hello from an MLflow client');
    assert.equal(put.status, 200, put.body);
    const got = await api('GET', `/api/2.0/mlflow-artifacts/artifacts/${root}/notes/hello.txt`);
    assert.equal(got.body, 'hello from an MLflow client');
    const listed = await api('GET', `/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(`${root}/notes`)}`);
    assert.deepEqual(listed.json.files, [{ path: 'hello.txt', is_dir: false, file_size: 27 }]);
    assert.ok((await bucketKeys(`refs/${root}/notes/`)).includes(`refs/${root}/notes/hello.txt`));
    const del = await api('DELETE', `/api/2.0/mlflow-artifacts/artifacts/${root}/notes/hello.txt`);
    assert.equal(del.status, 200);
    assert.equal((await api('GET', `/api/2.0/mlflow-artifacts/artifacts/${root}/notes/hello.txt`)).status, 404);
  });

  let modelPath: string;
  it('loads the registered model back from the bucket through the proxy', async () => {
    const v = await api('GET', '/api/2.0/mlflow/model-versions/get?name=bike-demand&version=1');
    assert.equal(v.status, 200, v.body);
    const runId = v.json.model_version.run_id as string;
    const run = await api('GET', `/api/2.0/mlflow/runs/get?run_id=${runId}`);
    const root = String(run.json.run.info.artifact_uri).replace(/^mlflow-artifacts:\/?/, '');
    const files = await api('GET', `/api/2.0/mlflow/artifacts/list?run_id=${runId}`);
    assert.equal(files.status, 200, files.body);
    const modelFile = await findFile(`${root}`, 'model.json');
    modelPath = modelFile;
    const res = await fetch(`${url}/api/2.0/mlflow-artifacts/artifacts/${modelFile}`);
    assert.equal(res.status, 200);
    const model = loadModel(Buffer.from(await res.arrayBuffer()));
    assert.equal(model.task, 'regression');
    assert.ok((await bucketKeys('refs/')).includes(`refs/${modelFile}`), 'the model is a ref in the bucket');
  });

  it('evaluates the registered model on the dataset version, both read from the bucket', () => {
    const r = runCli([...g, '--json', 'evaluate', '--model', 'bike-demand@champion', '--data', 'bike-hourly@1', '--bootstrap', '0'], { env: s3.env });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.ok(report.metrics.r2.value > 0.8, JSON.stringify(report.metrics));
  });

  it('refuses a model whose bytes were changed in the bucket', async () => {
    const ref = await s3.client().send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}/refs/${modelPath}` }));
    const { sha256 } = JSON.parse(await ref.Body!.transformToString()) as { sha256: string };
    const blobKey = `${PREFIX}/blobs/${sha256.slice(0, 2)}/${sha256}`;
    const blob = await s3.client().send(new GetObjectCommand({ Bucket: s3.bucket, Key: blobKey }));
    const bytes = Buffer.from(await blob.Body!.transformToByteArray());
    const mid = bytes.length >> 1;
    bytes.writeUInt8(bytes.readUInt8(mid) ^ 0x01, mid);
    await s3.client().send(new PutObjectCommand({ Bucket: s3.bucket, Key: blobKey, Body: bytes }));
    const res = await api('GET', `/api/2.0/mlflow-artifacts/artifacts/${modelPath}`);
    assert.equal(res.status, 500);
    assert.equal(res.json.error_code, 'DATA_LOSS');
    assert.match(res.json.message, /failed its integrity check/);
    const r = runCli([...g, 'evaluate', '--model', 'bike-demand@champion', '--data', 'bike-hourly@1', '--bootstrap', '0'], { env: s3.env });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /TRELLIS_ARTIFACT_INTEGRITY/);
  });

  /** The store path of the first file named `name` under `dir`, found through the listing route. */
  async function findFile(dirPath: string, name: string): Promise<string> {
    const listed = await api('GET', `/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(dirPath)}`);
    for (const f of (listed.json.files ?? []) as Array<{ path: string; is_dir: boolean }>) {
      const p = `${dirPath}/${f.path}`;
      if (!f.is_dir && f.path === name) return p;
      if (f.is_dir) {
        try {
          return await findFile(p, name);
        } catch {
          // not under this directory
        }
      }
    }
    throw new Error(`no ${name} under ${dirPath}`);
  }
});
