import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from './program.js';
import { runCli } from './test-helpers/run-cli.js';

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

  it('creates and lists experiments, runs and models, in tables and JSON', () => {
    const qs = runCli([...g, '--json', 'quickstart']);
    assert.equal(qs.code, 0, qs.stderr);
    const summary = JSON.parse(qs.stdout);
    assert.match(summary.run_id, /^[0-9a-f]{32}$/);
    assert.equal(summary.version, '1');
    assert.ok(summary.metrics.r2 > 0.5 && summary.metrics.rmse < summary.metrics.baseline_rmse);

    const exps = JSON.parse(runCli([...g, '--json', 'experiments', 'list']).stdout);
    assert.deepEqual(exps.map((e: { name: string }) => e.name).sort(), ['Default', 'bike-demand']);
    const created = runCli([...g, 'experiments', 'create', 'other']);
    assert.match(created.stdout, /created experiment 2 \(other\)/);
    assert.match(runCli([...g, 'experiments', 'create', 'other']).stderr, /already exists.*TRELLIS_EXPERIMENT_EXISTS/);

    const runs = runCli([...g, 'runs', 'list', '-e', 'bike-demand']);
    assert.match(runs.stdout, /RUN_ID\s+NAME\s+STATUS/);
    assert.match(runs.stdout, new RegExp(summary.run_id));
    const found = JSON.parse(runCli([...g, '--json', 'runs', 'search', '-f', 'metrics.r2 > 0.5', '--order-by', 'metrics.rmse ASC']).stdout);
    assert.equal(found.length, 1);
    assert.equal(runCli([...g, '--json', 'runs', 'search', '-f', 'metrics.r2 > 0.99']).stdout.trim(), '[]');
    const bad = runCli([...g, 'runs', 'search', '-f', 'metrics.r2 >> 1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /TRELLIS_SEARCH_FILTER_INVALID/);

    const show = runCli([...g, 'runs', 'show', summary.run_id]);
    assert.match(show.stdout, /model\/\s/);
    assert.match(show.stdout, /predictions_sample\.csv/);

    assert.equal(runCli([...g, 'quickstart']).code, 0);
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
    assert.match(runCli([...g, 'models', 'show', 'nope']).stderr, /Registered Model with name=nope not found/);
  });
});
