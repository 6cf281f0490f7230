/**
 * The CLI against a `trellis server` prints what it prints on the local store: the same commands
 * run both ways over one SQLite store (the server in this process, the CLI in child processes)
 * and their output is compared. The server is chosen by --server, $TRELLIS_TRACKING_URI or an
 * http(s) $MLFLOW_TRACKING_URI; a server that is not there is named in the error.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../api/serve.js';
import { Workspace } from '../../workspace/workspace.js';
import { cli, type CliResult } from '../test-helpers/trellis-project.js';

/** No tracking URI from the test's own environment leaks into the children. */
const CLEAN_ENV = { TRELLIS_TRACKING_URI: '', MLFLOW_TRACKING_URI: '', TRELLIS_STORE_URI: '', TRELLIS_ARTIFACTS_URI: '' };

function csv(rows: number, shift: number): string {
  const lines = ['season,temp,cnt'];
  for (let i = 0; i < rows; i++) lines.push(`${1 + (i % 4)},${(0.2 + ((i * 7) % 13) / 20 + shift).toFixed(3)},${100 + ((i * 37) % 90)}`);
  return `${lines.join('\n')}\n`;
}

/** A port nothing listens on: taken from the system, then released. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((done) => s.listen(0, '127.0.0.1', done));
  const { port } = s.address() as { port: number };
  await new Promise<void>((done) => s.close(() => done()));
  return port;
}

/** Runs `jobs` at most `n` at a time (the children are node processes; the machine may be small). */
async function pool<T>(jobs: (() => Promise<T>)[], n: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  }));
  return out;
}

describe('trellis CLI against a server', () => {
  let dir: string;
  let ws: Workspace;
  let server: Awaited<ReturnType<typeof startServer>>;
  let local: string[];
  let remote: string[];
  let runId: string;
  const pipelineRuns: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-remote-cli-'));
    const store = `sqlite:${join(dir, 't.db')}`;
    const artifacts = `file:${join(dir, 'a')}`;
    local = ['--store', store, '--artifacts', artifacts];
    writeFileSync(join(dir, 'train1.csv'), csv(60, 0));
    writeFileSync(join(dir, 'train2.csv'), csv(70, 0.05));
    writeFileSync(join(dir, 'serving.csv'), csv(40, 0.4).replace(/,\d+\n/g, '\n').replace(',cnt', ''));
    writeFileSync(join(dir, 'schema.json'), JSON.stringify({
      format: 'trellis.schema/v1',
      columns: [
        { name: 'season', type: 'integer', nullable: false, range: { min: 1, max: 4 } },
        { name: 'temp', type: 'float', nullable: false },
        { name: 'cnt', type: 'integer', nullable: false, environments: ['training'] },
      ],
    }));

    ws = await Workspace.open({ store, artifacts });
    const who = { actor: 'alice' };
    const exp = await ws.tracking.createExperiment('bike', { tags: { team: 'demand' } }, who);
    const ids: string[] = [];
    for (const [i, rmse] of [[1, 3.5], [2, 1.25], [3, 2.75]] as const) {
      const run = await ws.tracking.createRun({ experimentId: exp, runName: `fit-${i}`, userId: 'alice', tags: { team: `t${i}` } }, who);
      const id = run.info.runId;
      await ws.tracking.logBatch(id, {
        params: [{ key: 'l2', value: String(i / 2) }, { key: 'model', value: i === 2 ? 'ols' : 'ridge' }],
        metrics: [0, 1].map((step) => ({ key: 'rmse', value: rmse + 1 - step, timestamp: 1_700_000_000_000 + step, step }))
          .concat([{ key: 'r2', value: 1 / rmse, timestamp: 1_700_000_000_000, step: 0 }]),
      }, who);
      await ws.tracking.logArtifact(id, 'model/model.json', `{"w":[${i}]}`);
      await ws.tracking.updateRun(id, { status: 'FINISHED', endTime: 1_700_000_100_000 }, who);
      ids.push(id);
    }
    runId = ids[1]!;
    await ws.registry.createModel({ name: 'bike-demand', description: 'hourly rentals' }, who);
    for (const id of ids) await ws.registry.createVersion({ name: 'bike-demand', source: `runs:/${id}/model`, runId: id }, who);
    await ws.registry.setAlias('bike-demand', 'champion', '2', who);
    await ws.registry.transitionStage('bike-demand', '3', 'Staging', false, who);
    await ws.data.add('bike', join(dir, 'train1.csv'), {}, who);
    await ws.data.add('bike', join(dir, 'train2.csv'), {}, who);
    await ws.training.train({ data: 'bike@1', target: 'cnt', algo: 'linear', params: {}, experiment: 'bike-models', register: 'bike-real' }, who);
    // A pipeline run twice as it was, then with a changed parameter: `pipelines why` has a hit and a miss to explain.
    const { validatePipeline } = await import('../../pipelines/ir.js');
    const ir = validatePipeline({
      format: 'trellis.pipeline/v1', name: 'tiny', params: [{ name: 'share', type: 'number', default: 0.2 }],
      steps: [
        { name: 'ingest', component: 'ingest', inputs: { dataset: join(dir, 'train1.csv') } },
        { name: 'split', component: 'split', inputs: { data: { step: 'ingest', output: 'data' }, testSize: { param: 'share' } } },
      ],
    }, 'tiny.pipeline.yaml');
    const opened = await ws.pipelines.openEngine(who, { queue: 'inline' });
    try {
      for (const share of [0.2, 0.2, 0.3]) pipelineRuns.push((await opened.engine.run(ir, { params: { share } })).runId);
    } finally {
      await opened.close();
    }
    server = await startServer({ host: '127.0.0.1', port: 0, workspace: ws, log: false });
    remote = ['--server', server.url];
  });

  after(async () => {
    await server?.close();
    await ws?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (g: string[], args: string[], env: NodeJS.ProcessEnv = {}) => cli([...g, ...args], { cwd: dir, env: { ...CLEAN_ENV, ...env } });

  it('prints the same for tracking, registry, data and audit commands, on the store and through the server', async () => {
    const commands: string[][] = [
      ['experiments', 'list'],
      ['--json', 'experiments', 'list'],
      ['experiments', 'show', 'bike'],
      ['experiments', 'show', 'no-such-experiment'],
      ['runs', 'list'],
      ['--json', 'runs', 'list', '-e', 'bike'],
      ['runs', 'search', '-e', 'bike', '--filter', 'metrics.rmse < 3', '--order-by', 'metrics.rmse ASC'],
      ['runs', 'list', '-e', 'bike', '--columns', 'run_id,name,metrics.rmse,params.l2,tags.team', '--order-by', 'params.l2 DESC'],
      ['runs', 'list', '-e', 'bike', '--limit', '2', '--order-by', 'metrics.r2 DESC'],
      ['runs', 'show', runId],
      ['runs', 'show', 'f'.repeat(32)],
      ['runs', 'search', '-e', 'bike', '--filter', 'metrics.rmse <> 3'],
      ['runs', 'list', '-e', 'no-such-experiment'],
      ['--json', 'runs', 'show', runId],
      ['models', 'list'],
      ['--json', 'models', 'list'],
      ['models', 'show', 'bike-demand@champion'],
      ['models', 'show', 'bike-demand@9'],
      ['models', 'show', 'no-such-model'],
      ['models', 'versions', 'bike-demand'],
      ['--json', 'models', 'versions', 'bike-demand@latest'],
      ['models', 'alias', 'bike-demand', 'champion'],
      ['models', 'alias', 'bike-demand', 'nope'],
      ['models', 'history', 'bike-demand'],
      ['--json', 'models', 'history', 'bike-demand', '--stage', 'Staging'],
      ['data', 'list'],
      ['data', 'versions', 'bike'],
      ['data', 'show', 'bike@1'],
      ['--json', 'data', 'show', 'bike@2'],
      ['data', 'show', 'bike@7'],
      ['data', 'schema', 'bike@1'],
      ['data', 'diff', 'bike@1', 'bike@2'],
      ['--json', 'data', 'diff', 'bike@1', 'bike@2'],
      ['data', 'validate', 'train2.csv', '--against', 'bike@1'],
      ['data', 'validate', 'missing.csv', '--against', 'bike@1'],
      ['data', 'versions', 'no-such-dataset'],
      ['models', 'stage', 'bike-demand@champion', 'Nowhere'],
      ['data', 'validate', 'serving.csv', '--against', 'bike@1', '--env', 'serving'],
      ['data', 'validate', 'serving.csv', '--schema', 'schema.json', '--env', 'serving'],
      ['--json', 'data', 'skew', 'serving.csv', '--against', 'bike@1'],
      ['data', 'skew', 'serving.csv', '--against', 'bike@1'],
      ['data', 'profile', 'bike@2'],
      ['lineage', 'bike-demand@champion'],
      ['--json', 'lineage', 'model:bike-demand@1', '--depth', '1'],
      ['lineage', 'bike@2'],
      ['lineage', 'no-such-thing@1'],
      ['pipelines', 'why', '<hit>', 'split'],
      ['pipelines', 'why', '<miss>', 'split'],
      ['--json', 'pipelines', 'why', '<miss>', 'split'],
      ['pipelines', 'why', '<miss>', 'nope'],
      ['audit', 'verify'],
      ['audit', 'log', '--limit', '5', '--entity', 'registered_model/bike-demand'],
    ];
    for (const c of commands) for (const [i, a] of c.entries()) c[i] = a === '<hit>' ? pipelineRuns[1]! : a === '<miss>' ? pipelineRuns[2]! : a;
    const results = await pool(commands.flatMap((args) => [() => run(local, args), () => run(remote, args)]), 4);
    const errors = (x: CliResult) => x.stderr.split('\n').filter((line) => line.startsWith('error:')).join('\n');
    // Every difference at once, so one run shows them all.
    const differences = commands.flatMap((args, i) => {
      const [l, r] = [results[2 * i]!, results[2 * i + 1]!];
      const same = r.code === l.code && r.stdout === l.stdout && errors(r) === errors(l);
      return same ? [] : [{ command: `trellis ${args.join(' ')}`, local: { code: l.code, stdout: l.stdout, stderr: l.stderr }, remote: { code: r.code, stdout: r.stdout, stderr: r.stderr } }];
    });
    assert.deepEqual(differences, []);
    // Not vacuous: tables and errors were printed.
    const at = (args: string[]) => results[2 * commands.findIndex((c) => c.join(' ') === args.join(' '))]!;
    assert.match(at(['runs', 'show', runId]).stdout, /^model\/$/m);
    assert.match(at(['models', 'show', 'no-such-model']).stderr, /no model 'no-such-model' \[TRELLIS_MODEL_NOT_FOUND\]/);
    assert.match(at(['models', 'show', 'bike-demand@9']).stderr, /no version 9 of model 'bike-demand' \(versions: 1, 2, 3\)/);
    assert.match(at(['data', 'show', 'bike@7']).stderr, /TRELLIS_DATASET_VERSION_NOT_FOUND/);
    assert.match(at(['lineage', 'bike-demand@champion']).stdout, /bike-demand/);
    assert.match(at(['models', 'stage', 'bike-demand@champion', 'Nowhere']).stderr, /Nowhere/);
    assert.match(at(['runs', 'search', '-e', 'bike', '--filter', 'metrics.rmse <> 3']).stderr, /TRELLIS_SEARCH_FILTER_INVALID/);
    assert.match(at(['data', 'validate', 'missing.csv', '--against', 'bike@1']).stderr, /TRELLIS_DATA_FILE_NOT_FOUND/);
    assert.match(at(['data', 'validate', 'train2.csv', '--against', 'bike@1']).stdout, /against bike@1/);
    assert.equal(at(['data', 'skew', 'serving.csv', '--against', 'bike@1']).code, 1);
    assert.match(at(['data', 'diff', 'bike@1', 'bike@2']).stdout, /60 → 70|60 -> 70|rows/);
    assert.match(at(['pipelines', 'why', pipelineRuns[1]!, 'split']).stdout, /^split: cache hit/);
    assert.match(at(['pipelines', 'why', pipelineRuns[2]!, 'split']).stdout, /^split: cache miss — .*\n.*scalar\s+testSize\s+0\.2\s+0\.3/s);
    assert.match(at(['pipelines', 'why', pipelineRuns[2]!, 'nope']).stderr, /has no step 'nope'/);
  });

  it('writes through the server as it writes to the store: experiments, aliases, stages, datasets, schemas', async () => {
    const both = async (args: (side: string) => string[]) => {
      const [l, r] = await Promise.all([run(local, args('local')), run(remote, args('remote'))]);
      assert.equal(l.code, 0, l.stderr);
      assert.equal(r.code, 0, r.stderr);
      return [l, r] as const;
    };
    const norm = (s: string) => s.replace(/local|remote/g, 'SIDE').replace(/experiment \d+/g, 'experiment N');
    let [l, r] = await both((s) => ['experiments', 'create', `made-${s}`]);
    assert.equal(norm(r.stdout), norm(l.stdout));
    assert.match(r.stdout, /created experiment \d+ \(made-remote\)/);
    [l, r] = await both((s) => ['data', 'add', `bike-${s}`, 'train1.csv', '--env', 'cnt=training']);
    assert.equal(norm(r.stdout), norm(l.stdout));
    assert.match(r.stdout, /added bike-remote@1: 60 rows × 3 columns/);
    [l, r] = await both((s) => ['data', 'schema', `bike-${s}`, 'schema.json', '--pin']);
    assert.equal(norm(r.stdout), norm(l.stdout));
    [l, r] = await both((s) => ['--json', 'data', 'schema', `bike-${s}`]);
    assert.equal(r.stdout, l.stdout);
    assert.match(r.stdout, /"training"/);

    // Scored here, recorded where the model is: the same report, a run in the same place.
    const runIds = /\b[0-9a-f]{32}\b/g;
    for (const args of [
      ['predict', '--model', 'bike-real@1', '--input', 'bike@2'],
      ['--json', 'predict', '--model', 'bike-real@latest', '--input', 'serving.csv'],
      ['evaluate', '--model', 'bike-real@1', '--data', 'bike@2'],
      ['--json', 'evaluate', '--model', 'bike-real@1', '--data', 'train2.csv', '--experiment', 'scored'],
      ['explain', '--model', 'bike-real@1', '--data', 'bike@2', '--sample', '50', '--rows', '2'],
    ]) {
      [l, r] = await both(() => args);
      assert.equal(r.stdout.replace(runIds, 'RUN'), l.stdout.replace(runIds, 'RUN'), args.join(' '));
    }
    // Trained on the server, reported here as locally.
    for (const extra of [['--cv', '3'], ['--json', '--search', 'grid', '--space', 'l2=0.1,1', '--param', 'test_size=0.25']]) {
      const json = extra[0] === '--json';
      [l, r] = await both((side) => [...(json ? ['--json'] : []), 'train', '--data', 'bike@1', '--target', 'cnt', '--experiment', `trained-${side}`, '--register', `trained-${side}`, ...extra.filter((x) => x !== '--json')]);
      assert.equal(norm(r.stdout).replace(runIds, 'RUN'), norm(l.stdout).replace(runIds, 'RUN'), extra.join(' '));
      assert.match(r.stdout, json ? /"model": "trained-remote"/ : /registered trained-remote version 1/);
    }

    const scored = await ws.tracking.searchRuns({ experimentIds: [(await ws.tracking.getExperimentByName('scored')).experimentId], filter: "tags.`trellis.scoring` = 'evaluate'" });
    assert.equal(scored.items.length, 2);
    for (const run of scored.items) {
      assert.equal(run.info.status, 'FINISHED');
      assert.equal(run.data.tags['trellis.model'], 'bike-real/1');
      assert.equal(run.data.params.data, join(dir, 'train2.csv'));
      assert.deepEqual((await ws.tracking.listArtifacts(run.info.runId)).files.map((f) => f.path), ['evaluation.json']);
    }

    // Aliases and stages, set through the server, read back from the store.
    let res = await run(remote, ['models', 'alias', 'bike-demand@1', 'challenger']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'bike-demand@challenger → version 1\n');
    res = await run(remote, ['models', 'stage', 'bike-demand@challenger', 'Production']);
    assert.equal(res.stdout, 'bike-demand version 1 is now in Production\n');
    assert.equal((await ws.registry.getVersionByAlias('bike-demand', 'challenger')).currentStage, 'Production');
    res = await run(remote, ['models', 'alias', 'bike-demand', 'challenger', '--delete']);
    assert.equal(res.stdout, 'removed bike-demand@challenger\n');
    assert.deepEqual(Object.keys((await ws.registry.getModel('bike-demand')).aliases), ['champion']);
  });

  it('takes the server from $TRELLIS_TRACKING_URI or an http(s) $MLFLOW_TRACKING_URI; a store URI there means a local store', async () => {
    const other = mkdtempSync(join(tmpdir(), 'trellis-remote-cwd-'));
    try {
      const onServer = await run(local, ['runs', 'list', '-e', 'bike']);
      assert.match(onServer.stdout, /fit-2/);
      // In an empty folder the local store has no runs: the output can only come from the server.
      const viaEnv = (env: NodeJS.ProcessEnv) => cli(['runs', 'list', '-e', 'bike'], { cwd: other, env: { ...CLEAN_ENV, ...env } });
      const [t, m, both, store] = await Promise.all([
        viaEnv({ TRELLIS_TRACKING_URI: server.url }),
        viaEnv({ MLFLOW_TRACKING_URI: `${server.url}/` }),
        viaEnv({ TRELLIS_TRACKING_URI: server.url, MLFLOW_TRACKING_URI: 'http://127.0.0.1:1' }),
        viaEnv({ TRELLIS_TRACKING_URI: `sqlite:${join(dir, 't.db')}`, MLFLOW_TRACKING_URI: server.url }),
      ]);
      for (const r of [t, m, both, store]) {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, onServer.stdout);
      }
      // MLflow's own file store path: local, so the empty local workspace has no such experiment.
      const mlflowPath = await viaEnv({ MLFLOW_TRACKING_URI: './mlruns' });
      assert.equal(mlflowPath.code, 1);
      assert.match(mlflowPath.stderr, /Could not find experiment with name 'bike'/);
      const unknown = await viaEnv({ TRELLIS_TRACKING_URI: 'ftp://example.com/x' });
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /TRELLIS_TRACKING_URI 'ftp:\/\/example\.com\/x' is neither a Trellis server \(http:\/\/host:port, https:\/\/host\) nor a store/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('sends $TRELLIS_TOKEN as a Bearer token and never prints it', async () => {
    const seen: (string | undefined)[] = [];
    const fake = createHttpServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"experiments":[]}');
    });
    await new Promise<void>((done) => fake.listen(0, '127.0.0.1', done));
    try {
      const url = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
      const r = await run(['--server', url], ['experiments', 'list'], { TRELLIS_TOKEN: 's3cret-token' });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(seen, ['Bearer s3cret-token']);
      assert.ok(!`${r.stdout}${r.stderr}`.includes('s3cret'));
      const down = await run(['--server', 'http://127.0.0.1:1'], ['models', 'list'], { TRELLIS_TOKEN: 's3cret-token' });
      assert.equal(down.code, 1);
      assert.ok(!`${down.stdout}${down.stderr}`.includes('s3cret'));
    } finally {
      await new Promise<void>((done) => fake.close(() => done()));
    }
  });

  it('names a server that is not there, refuses a bad URL and a local file to train on, and says which commands run only locally', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const [down, downEnv, triggers, bad, train, srv] = await Promise.all([
      run(['--server', url], ['experiments', 'list']),
      run([], ['models', 'list'], { TRELLIS_TRACKING_URI: url }),
      run([], ['pipelines', 'triggers'], { MLFLOW_TRACKING_URI: url }),
      run(['--server', 'ftp://example.com'], ['runs', 'list']),
      run(remote, ['train', '--data', 'train1.csv', '--target', 'cnt']),
      run(remote, ['server', '--port', '0']),
    ]);
    for (const r of [down, downEnv, triggers]) {
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`Cannot reach the Trellis server at ${url.replace(/[.]/g, '\\.')}: connect ECONNREFUSED .* \\[TRELLIS_SERVER_UNREACHABLE\\]`));
    }
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--server 'ftp:\/\/example\.com' must be an http:\/\/ or https:\/\/ URL/);
    assert.equal(train.code, 1);
    assert.match(train.stderr, /Against a server, --data names a dataset version of the server's workspace \(name@version\), not the file 'train1\.csv': add it first/);
    assert.equal(srv.code, 1);
    assert.match(srv.stderr, /'trellis server' runs on this machine, over a local store: --server does not apply/);
  });
});
