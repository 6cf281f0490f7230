import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Trellis } from '../../sdk/trellis.js';
import { runCli } from '../test-helpers/run-cli.js';

const ADULT_HEAD = fileURLToPath(new URL('../../data/readers/fixtures/adult_train_head200.csv', import.meta.url));

/** A printed table as its header cells and its rows of cells (columns are two spaces or more apart). */
function table(stdout: string): { header: string[]; rows: string[][] } {
  const [head, ...rest] = stdout.trim().split('\n');
  return { header: head!.split(/\s{2,}/), rows: rest.map((l) => l.split(/\s{2,}/)) };
}

describe('trellis runs list / search tables', () => {
  let dir: string;
  let g: string[];
  const ids: string[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-runs-'));
    const store = `sqlite:${join(dir, 't.db')}`;
    const artifacts = `file:${join(dir, 'a')}`;
    g = ['--store', store, '--artifacts', artifacts];
    const t = await Trellis.open({ store, artifacts, user: 'alice' });
    // Five other metrics sort before `rmse`, so a table of the first four would leave it out.
    for (const [i, rmse] of [[1, 30], [2, 10], [3, 20]] as const) {
      const run = await t.startRun({ experiment: 'fits', name: `fit-${i}`, tags: { team: `t${i}` } });
      await run.logParams({ model: i === 2 ? 'ols' : 'ridge', alpha: i });
      await run.logMetrics({ a: i, b: i, c: i, d: i, e: i, rmse });
      await run.end();
      ids.push(run.id);
    }
    await t.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const ok = (args: string[]) => {
    const r = runCli([...g, 'runs', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return table(r.stdout);
  };

  it('shows the metric it is sorted by, in that order', () => {
    const t = ok(['list', '-e', 'fits', '--order-by', 'metrics.rmse ASC']);
    assert.deepEqual(t.header.slice(0, 5), ['RUN_ID', 'NAME', 'STATUS', 'STARTED', 'RMSE']);
    assert.deepEqual(t.rows.map((r) => r[t.header.indexOf('RMSE')]), ['10', '20', '30']);
    assert.deepEqual(t.rows.map((r) => r[1]), ['fit-2', 'fit-3', 'fit-1']);
  });

  it('shows the metrics and params a filter names', () => {
    const t = ok(['search', '-e', 'fits', '-f', "metrics.rmse < 25 and params.model = 'ridge'"]);
    assert.deepEqual(t.header.slice(4, 6), ['RMSE', 'PARAMS.MODEL']);
    assert.deepEqual(t.rows.map((r) => [r[1], r[4], r[5]]), [['fit-3', '20', 'ridge']]);
  });

  it('--columns shows exactly the named columns, in order', () => {
    const t = ok(['list', '-e', 'fits', '--order-by', 'metrics.rmse DESC', '--columns', 'name,metrics.rmse,params.alpha,tags.team,run_id']);
    assert.deepEqual(t.header, ['NAME', 'RMSE', 'PARAMS.ALPHA', 'TAGS.TEAM', 'RUN_ID']);
    assert.deepEqual(t.rows, [['fit-1', '30', '1', 't1', ids[0]], ['fit-3', '20', '3', 't3', ids[2]], ['fit-2', '10', '2', 't2', ids[1]]]);
    assert.deepEqual(ok(['list', '-e', 'fits', '--columns', 'status']).header, ['STATUS']);
  });

  for (const bad of ['rmse', 'metrics.', 'metrix.rmse', 'name,,status', '']) {
    it(`refuses --columns '${bad}' and names the accepted forms`, () => {
      const r = runCli([...g, 'runs', 'list', '-e', 'fits', '--columns', bad]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /run_id, name, status, start_time.*metrics\.<key>, params\.<key>, tags\.<key>/);
      assert.equal(r.stdout, '');
    });
  }

  it("shows a search's trial values", () => {
    const trained = runCli([...g, '--json', 'train', '--data', ADULT_HEAD, '--target', 'income', '--search', 'grid', '--space', 'l2=0.01,1,100', '--experiment', 'search']);
    assert.equal(trained.code, 0, trained.stderr);
    const t = ok(['search', '-e', 'search', '-f', "tags.trellis.trial != ''", '--order-by', 'tags.trellis.trial ASC']);
    assert.ok(t.header.includes('TRIAL') && t.header.includes('PARAMS.L2'), t.header.join(' '));
    assert.deepEqual(t.rows.map((r) => [r[t.header.indexOf('TRIAL')], r[t.header.indexOf('PARAMS.L2')]]), [['1', '0.01'], ['2', '1'], ['3', '100']]);
    // One trial alone still shows what was searched.
    const one = ok(['list', '-e', 'search', '--order-by', 'tags.trellis.trial DESC', '--limit', '1']);
    assert.ok(one.header.includes('PARAMS.L2'), one.header.join(' '));
  });
});
