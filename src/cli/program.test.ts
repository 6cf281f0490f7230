import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildProgram } from './program.js';
import { runCli } from './test-helpers/run-cli.js';
import type { PipelineRunResult } from '../pipelines/engine/index.js';

const QUICKSTART_YAML = fileURLToPath(new URL('../../examples/pipelines/quickstart.pipeline.yaml', import.meta.url));

function allCommands(c: Command): Command[] {
  return [c, ...c.commands.flatMap(allCommands)];
}

describe('trellis CLI', () => {
  let dir: string;
  let g: string[];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-cli-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('documents every command and has --help on each', () => {
    const cmds = allCommands(buildProgram());
    assert.ok(cmds.length >= 20);
    for (const c of cmds) {
      assert.ok(c.description().length > 10, `${c.name()} has a description`);
      assert.match(c.helpInformation(), /--help/);
    }
  });

  it('quickstart: the bike-demand pipeline on real data, then again with every step from the cache and no second version', () => {
    const qs = runCli([...g, '--json', 'quickstart']);
    assert.equal(qs.code, 0, qs.stderr);
    const summary = JSON.parse(qs.stdout);
    const [first, second] = summary.runs as PipelineRunResult[];
    assert.equal(summary.runs.length, 2);
    assert.equal(summary.dataset, 'bike-hourly@1');
    assert.match(first!.runId, /^[0-9a-f]{32}$/);
    const statuses = (r: PipelineRunResult) => r.steps.map((x) => `${x.step}:${x.status}`);
    assert.deepEqual(statuses(first!), ['ingest:done', 'validate:done', 'split:done', 'train:done', 'evaluate:done', 'gate:done', 'register:done']);
    assert.deepEqual(statuses(second!), ['ingest:cached', 'validate:cached', 'split:cached', 'train:cached', 'evaluate:cached', 'gate:cached', 'register:cached']);
    assert.deepEqual(summary.secondRun, { steps: 7, fromCache: 7, durationMs: second!.durationMs });
    const shas = (r: PipelineRunResult) => r.steps.map((x) => Object.values(x.outputs).map((o) => o.sha256));
    assert.deepEqual(shas(second!), shas(first!));
    // The first run registers version 1 @champion; the second finds it again and creates none.
    assert.deepEqual(first!.registered, [{ step: 'register', name: 'bike-demand', version: '1', alias: 'champion', created: true }]);
    assert.deepEqual(second!.registered, [{ step: 'register', name: 'bike-demand', version: '1', alias: 'champion', created: false }]);
    assert.deepEqual([summary.model, summary.version, summary.alias], ['bike-demand', '1', 'champion']);
    // Time-ordered split, no leaking columns: a real but imperfect fit on the last 20% of the hours.
    assert.ok(summary.metrics.r2 > 0.85 && summary.metrics.r2 < 0.99 && summary.metrics.rmse < 90, JSON.stringify(summary.metrics));
    assert.match(qs.stderr, /▸ train … done in \d+\.\d s\n[^]*▸ train … cached\n/);
    const versions = JSON.parse(runCli([...g, '--json', 'models', 'versions', 'bike-demand']).stdout);
    assert.deepEqual(versions.map((v: { version: string; aliases: string[] }) => [v.version, v.aliases]), [['1', ['champion']]]);

    // For people: the summaries, the cache line and what to try next. Run again, it is all cached.
    const text = runCli([...g, 'quickstart']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^▸ data {6}bike-hourly@1: 17379 hourly rows from \S*examples\/data\/bike_sharing_hourly\.csv/);
    assert.match(text.stdout, /\nfirst run\npipeline bike-demand, run [0-9a-f]{32}: FINISHED in \d+\.\d s \(7 steps, 7 from cache\)\n/);
    assert.match(text.stdout, /\nsecond run: 7\/7 steps from cache in \d+ ms \(the first run took \d+\.\d s\)\n/);
    assert.match(text.stdout, /model: bike-demand version 1 @champion — test RMSE \d+\.\d, R² 0\.\d{3} .*no new version/);
    assert.match(text.stdout, /npx trellis lineage bike-demand@champion /);
    assert.match(text.stdout, /npx trellis pipelines why [0-9a-f]{32} train /);
    // The serving suggestion works as printed.
    const deploy = /npx trellis (deployments create bike --model bike-demand@champion) /.exec(text.stdout);
    assert.ok(deploy, text.stdout);
    const created = runCli([...g, ...deploy[1]!.split(' ')]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /created endpoint bike: primary bike-demand@champion 100%/);
    assert.match(text.stdout, /npx trellis serve +# serves it/);
    assert.equal(JSON.parse(runCli([...g, '--json', 'models', 'versions', 'bike-demand']).stdout).length, 1);
  });

  it('creates and lists experiments, runs and models, in tables and JSON', () => {
    const summary = { run_id: JSON.parse(runCli([...g, '--json', 'runs', 'search', '-f', "tags.trellis.pipeline = 'bike-demand'", '--order-by', 'start_time ASC']).stdout)[0].info.runId as string };
    const exps = JSON.parse(runCli([...g, '--json', 'experiments', 'list']).stdout);
    assert.deepEqual(exps.map((e: { name: string }) => e.name).sort(), ['Default', 'bike-demand']);
    const created = runCli([...g, 'experiments', 'create', 'other']);
    assert.match(created.stdout, /created experiment 2 \(other\)/);
    assert.match(runCli([...g, 'experiments', 'create', 'other']).stderr, /already exists.*TRELLIS_EXPERIMENT_EXISTS/);

    const runs = runCli([...g, 'runs', 'list', '-e', 'bike-demand']);
    assert.match(runs.stdout, /RUN_ID\s+NAME\s+STATUS/);
    assert.match(runs.stdout, new RegExp(summary.run_id));
    const found = JSON.parse(runCli([...g, '--json', 'runs', 'search', '-f', "metrics.r2 > 0.5 and tags.trellis.step = 'evaluate'", '--order-by', 'metrics.rmse ASC']).stdout);
    assert.equal(found.length, 4, 'one evaluate step run in each of the four pipeline runs, cached ones included');
    assert.equal(runCli([...g, '--json', 'runs', 'search', '-f', 'metrics.r2 > 0.99']).stdout.trim(), '[]');
    const bad = runCli([...g, 'runs', 'search', '-f', 'metrics.r2 >> 1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /TRELLIS_SEARCH_FILTER_INVALID/);

    const show = runCli([...g, 'runs', 'show', summary.run_id]);
    assert.match(show.stdout, /pipeline\.json/);

    // A changed parameter trains again: a new version, which the gate lets become @champion.
    const more = runCli([...g, 'run', QUICKSTART_YAML, '--param', 'trees=301', 'dataset=bike-hourly@1']);
    assert.equal(more.code, 0, more.stderr);
    assert.match(more.stdout, /registered bike-demand version 2 @champion\n/);
    assert.match(runCli([...g, 'models', 'versions', 'bike-demand']).stdout, /^2\s+None\s+@champion/m);
    const moved = runCli([...g, '--user', 'carol', 'models', 'alias', 'bike-demand', 'champion', '1']);
    assert.match(moved.stdout, /bike-demand@champion → version 1/);
    const history = JSON.parse(runCli([...g, '--json', 'models', 'history', 'bike-demand', '--alias', 'champion']).stdout);
    assert.deepEqual(history.map((h: { version: string }) => h.version), ['1', '2', '1']);
    assert.equal(history[2].setBy, 'carol');
    assert.equal(history[1].endedBy, 'carol');
    assert.equal(history[2].to, undefined);
    assert.match(runCli([...g, 'models', 'stage', 'bike-demand', '2', 'production']).stdout, /now in Production/);
    assert.equal(runCli([...g, 'audit', 'verify']).code, 0);
    assert.match(runCli([...g, 'models', 'show', 'nope']).stderr, /no model 'nope'/);
  });
});
