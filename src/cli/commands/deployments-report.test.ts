/**
 * `trellis deployments report` on the local store: the table, --json, --html with its plots, and
 * the one-line errors for an unknown endpoint and a bad --since; then the same report through a
 * server's `GET /deployments/report`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { abReportFromJson } from '../../serving/ab-report.js';
import { fillAbLog } from '../../serving/test-helpers/ab-fixture.js';
import { Workspace } from '../../workspace/workspace.js';
import { runCli } from '../test-helpers/run-cli.js';
import { startServerProcess, type RunningServer } from '../test-helpers/server-process.js';

describe('trellis deployments report', () => {
  let dir: string;
  let store: string[];
  let server: RunningServer | undefined;
  const clean = { TRELLIS_TRACKING_URI: undefined, MLFLOW_TRACKING_URI: undefined, TRELLIS_TOKEN: undefined };
  const cli = (args: string[]) => runCli([...store, ...args], { env: clean });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-report-'));
    store = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    const ws = await Workspace.open({ store: store[1]!, artifacts: store[3]! });
    try {
      const who = { actor: 'alice' };
      const run = await ws.tracking.createRun({ experimentId: '0' }, who);
      await ws.registry.createModel({ name: 'income' }, who);
      for (const _ of [1, 2, 3]) await ws.registry.createVersion({ name: 'income', source: `runs:/${run.info.runId}/model` }, who);
      await fillAbLog({ predictions: ws.predictions, createDeployment: (name, req) => ws.deployments.create(name, req, who) }, Date.now() - 40 * 60_000);
    } finally {
      await ws.close();
    }
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the routes, the sample-ratio check and the tests for people', () => {
    const r = cli(['deployments', 'report', 'income-ab', '--since', '1h']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^endpoint income-ab, \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ – /);
    assert.match(r.stdout, /ROUTE\s+MODELS\s+SHARE\s+REQUESTS\s+ERRORS\s+P50\s+P95\s+P99\s+LABELLED\s+METRIC/);
    assert.match(r.stdout, /arm:a\s+income\/1\s+50%\s+400\s+5\.00%\s+14\.50\s+19\s+19\s+380\s+accuracy 0\.7000/);
    assert.match(r.stdout, /arm:b\s+income\/2\s+50%\s+400\s+5\.00%\s+24\.50\s+29\s+29\s+380\s+accuracy 0\.8500/);
    assert.match(r.stdout, /sample ratio: chi-square 0, p 1: ok \(observed 400\/400, expected 400\/400\)/);
    assert.match(r.stdout, /arm:b − arm:a on accuracy: 0\.1500 \[0\.\d+, 0\.\d+\], p [\d.e-]+ \(alpha 0\.05000\): significant: arm:b is better/);
    assert.match(r.stdout, /arm:b − arm:a on error rate: 0 \[-?[\d.e-]+, [\d.e-]+\], p 1 \(alpha 0\.05000\): not yet/);

    const canary = cli(['deployments', 'report', 'price-canary', '--since', '2h']);
    assert.equal(canary.code, 0, canary.stderr);
    assert.match(canary.stdout, /sample ratio: chi-square [\d.]+, p [\d.e-]+: MISMATCH \(observed 690\/300, expected 891\/99\)/);
    assert.match(canary.stdout, /note: Sample ratio mismatch/);
    assert.match(canary.stdout, /canary − primary on squared error: -3\.000 .*significant: canary is better/);
  });

  it('prints JSON with --json and writes a self-contained page with the plots with --html', () => {
    const page = join(dir, 'report.html');
    const r = cli(['--json', 'deployments', 'report', 'income-ab', '--since', new Date(Date.now() - 3_600_000).toISOString(), '--html', page]);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json), ['endpoint', 'since', 'until', 'kind', 'alpha', 'routes', 'srm', 'comparisons', 'notes', 'series']);
    assert.deepEqual(Object.keys((json.routes as object[])[0]!), ['route', 'models', 'requests', 'errors', 'error_rate', 'latency', 'labelled', 'share', 'metric']);
    assert.equal((json.srm as { chi_square: number }).chi_square, 0);
    assert.equal((json.series as { bucket_ms: number }).bucket_ms, 60_000);
    const report = abReportFromJson(json);
    assert.equal(report.endpoint, 'income-ab');
    assert.deepEqual(report.routes.map((x) => [x.route, x.requests, x.metric?.value]), [['arm:a', 400, 0.7], ['arm:b', 400, 0.85]]);
    assert.equal(report.comparisons[0]!.metric!.test.decision, 'significant');
    assert.equal(report.series.routes.reduce((n, s) => n + s.requests.reduce((a, b) => a + b, 0), 0), 800);
    const html = readFileSync(page, 'utf8');
    assert.match(html, /<title>A\/B report: income-ab<\/title>/);
    for (const plot of ['requests', 'error rate', 'accuracy', 'requests per minute', 'error rate per minute']) assert.ok(html.includes(`aria-label="${plot}"`), plot);
    assert.match(html, /<path d="M[\d.]+,[\d.]+L/);
  });

  it('says in one line what is wrong with an unknown endpoint or a bad --since', () => {
    for (const [args, message] of [
      [['deployments', 'report', 'nope'], /No deployment named 'nope'/],
      [['deployments', 'report', 'income-ab', '--since', 'yesterday'], /--since takes an ISO 8601 date or date-time .* or a duration ago \(30m, 2h, 7d, 1w\), got 'yesterday'/],
      [['deployments', 'report', 'income-ab', '--since', '2999-01-01'], /--since '2999-01-01' is not in the past/],
    ] as const) {
      const r = cli([...args, '--html', join(dir, 'never.html')]);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    assert.equal(existsSync(join(dir, 'never.html')), false);
  });

  it('gives the same report through a server, and its refusals as the local store does', async () => {
    server = await startServerProcess([...store, 'server'], clean);
    const local = abReportFromJson(JSON.parse(cli(['--json', 'deployments', 'report', 'price-canary', '--since', '1h']).stdout));
    const r = runCli(['--server', server.url, '--json', 'deployments', 'report', 'price-canary', '--since', '1h'], { env: clean });
    assert.equal(r.code, 0, r.stderr);
    const remote = abReportFromJson(JSON.parse(r.stdout));
    assert.equal(remote.comparisons[0]!.metric!.test.logLikelihoodRatio, local.comparisons[0]!.metric!.test.logLikelihoodRatio);
    assert.deepEqual(remote.routes, local.routes);
    assert.deepEqual(remote.srm, local.srm);
    assert.deepEqual(remote.comparisons.map((c) => [c.treatment, c.metric!.better, c.metric!.test.pValue]), local.comparisons.map((c) => [c.treatment, c.metric!.better, c.metric!.test.pValue]));
    const table = runCli(['--server', server.url, 'deployments', 'report', 'price-canary', '--since', '1h'], { env: clean });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /canary − primary on squared error: -3\.000 .*significant: canary is better/);
    const missing = runCli(['--server', server.url, 'deployments', 'report', 'nope'], { env: clean });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No deployment named 'nope'/);
    const bad = await fetch(`${server.url}/api/2.0/trellis/deployments/report?name=income-ab&since=yesterday`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /since/);
    const backwards = await fetch(`${server.url}/api/2.0/trellis/deployments/report?name=income-ab&since=2000&until=1000`);
    assert.equal(backwards.status, 400);
    assert.match(((await backwards.json()) as { message: string }).message, /'since' \(2000\) must be before 'until' \(1000\)/);
  });
});
