/**
 * The A/B report from a real SQLite store whose prediction log (written and labelled through the
 * prediction service, as `ws.predictions`) holds a classifier's A/B test
 * (arm b better) and a regressor's canary with a broken split: the routes' figures, the
 * sample-ratio check, the sequential tests' numbers and decisions, the time series, and the page.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bernoulliSummary, sequentialTest, summarize } from '../numeric/stats/ab.js';
import { openStores } from '../store/open-stores.js';
import type { Stores } from '../store/stores.js';
import { abReport, abReportFromJson, abReportJson, buildAbReport, percentile, timeSeries, type AbReport } from './ab-report.js';
import { abReportHtml } from './ab-report-html.js';
import { specOf } from './deployment-service.js';
import { PredictionService } from './prediction-service.js';
import { AB_ERRORS_PER_ARM, AB_PER_ARM, fillAbLog } from './test-helpers/ab-fixture.js';

describe('A/B report', () => {
  let dir: string;
  let stores: Stores;
  const start = Date.UTC(2026, 0, 5, 12, 0, 30);
  const window = { since: start - 3_600_000, until: start + 3_600_000 };
  let ab: AbReport;
  let canary: AbReport;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-ab-report-'));
    stores = await openStores(`sqlite:${join(dir, 't.db')}`);
    const predictions = new PredictionService(stores.predictions);
    await fillAbLog({ predictions, createDeployment: (name, req) => stores.deployments.create(name, specOf(req), { actor: 'alice' }) }, start);
    ab = await abReport(predictions, (await stores.deployments.find('income-ab'))!, window);
    canary = await abReport(predictions, (await stores.deployments.find('price-canary'))!, window);
  });
  after(async () => {
    await stores?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives each arm's requests, error rate, latency percentiles and accuracy", () => {
    assert.equal(ab.kind, 'ab');
    assert.deepEqual(ab.routes.map((r) => [r.route, r.models, r.share, r.requests, r.errors, r.labelled]), [
      ['arm:a', ['income/1'], 50, AB_PER_ARM, AB_ERRORS_PER_ARM, 380],
      ['arm:b', ['income/2'], 50, AB_PER_ARM, AB_ERRORS_PER_ARM, 380],
    ]);
    assert.equal(ab.routes[0]!.errorRate, 0.05);
    // 400 latencies 10…19 ms, 40 of each: the 50th percentile falls between the 14s and the 15s.
    assert.deepEqual(ab.routes[0]!.latency, { p50: 14.5, p95: 19, p99: 19 });
    assert.deepEqual(ab.routes[1]!.latency, { p50: 24.5, p95: 29, p99: 29 });
    assert.deepEqual(ab.routes.map((r) => r.metric), [{ name: 'accuracy', value: 0.7 }, { name: 'accuracy', value: 0.85 }]);
  });

  it('finds no sample ratio mismatch in an even split, and calls arm b better on accuracy but not on errors', () => {
    assert.equal(ab.srm!.chiSquare, 0);
    assert.equal(ab.srm!.pValue, 1);
    assert.equal(ab.srm!.mismatch, false);
    assert.deepEqual(ab.srm!.routes, ['arm:a', 'arm:b']);
    assert.equal(ab.comparisons.length, 1);
    const [c] = ab.comparisons;
    assert.deepEqual([c!.control, c!.treatment], ['arm:a', 'arm:b']);
    assert.equal(c!.metric!.on, 'accuracy');
    assert.deepEqual(c!.metric!.test, sequentialTest(bernoulliSummary(266, 380), bernoulliSummary(323, 380), { alpha: 0.05 }));
    assert.ok(Math.abs(c!.metric!.test.difference - 0.15) < 1e-12);
    assert.equal(c!.metric!.test.decision, 'significant');
    assert.equal(c!.metric!.better, 'arm:b');
    assert.ok(c!.metric!.test.ci!.lower > 0);
    assert.equal(c!.errorRate.test.difference, 0);
    assert.equal(c!.errorRate.test.decision, 'not yet');
    assert.equal(c!.errorRate.better, undefined);
    assert.ok(ab.notes.some((n) => /^The deployment last changed at .*, after the window began/.test(n)), 'the deployment was created after the window began');
  });

  it('counts requests and errors per minute per route', () => {
    assert.equal(ab.series.bucketMs, 60_000);
    assert.equal(ab.series.start, Date.UTC(2026, 0, 5, 12, 0, 0));
    // 800 requests one second apart from 12:00:30: buckets 12:00 to 12:13.
    assert.deepEqual(ab.series.routes.map((r) => [r.route, r.requests.length, r.requests.reduce((a, b) => a + b), r.errors.reduce((a, b) => a + b)]), [
      ['arm:a', 14, 400, 20], ['arm:b', 14, 400, 20],
    ]);
    assert.deepEqual(ab.series.routes[0]!.requests.slice(0, 2), [15, 30]);
  });

  it('compares a canary with its primary on squared error, flags its broken split, and leaves the shadow out of both', () => {
    assert.equal(canary.kind, 'canary');
    const by = Object.fromEntries(canary.routes.map((r) => [r.route, r]));
    assert.deepEqual([by.primary!.requests, by.canary!.requests, by.shadow!.requests], [690, 300, 100]);
    assert.equal(by.shadow!.share, undefined);
    assert.ok(Math.abs(by.primary!.metric!.value - Math.sqrt(14 / 3)) < 1e-12);
    assert.ok(Math.abs(by.canary!.metric!.value - Math.sqrt(5 / 3)) < 1e-12);
    assert.deepEqual(by.shadow!.metric, { name: 'rmse', value: 0 });
    assert.deepEqual(canary.srm!.routes, ['primary', 'canary']);
    assert.deepEqual(canary.srm!.expected, [891, 99]);
    assert.ok(Math.abs(canary.srm!.chiSquare - (201 ** 2 / 891 + 201 ** 2 / 99)) < 1e-9);
    assert.equal(canary.srm!.mismatch, true);
    assert.ok(canary.notes.some((n) => /^Sample ratio mismatch/.test(n)));
    const [c] = canary.comparisons;
    assert.deepEqual([c!.control, c!.treatment, c!.metric!.on, c!.metric!.higherIsBetter], ['primary', 'canary', 'squared_error', false]);
    const se = (offs: number[], n: number) => Array.from({ length: n }, (_, j) => offs[j % 3]! ** 2);
    assert.deepEqual(c!.metric!.test, sequentialTest(summarize(se([1, 2, 3], 690)), summarize(se([0, 1, 2], 300)), { alpha: 0.05 }));
    assert.equal(c!.metric!.test.decision, 'significant');
    assert.equal(c!.metric!.better, 'canary');
  });

  it('splits alpha over several challengers, notes a change after the window began, and says when there are no labels', () => {
    const stats = ['a', 'b', 'c'].map((arm, i) => ({ route: `arm:${arm}`, model: 'm', version: String(i + 1), requests: 100, errors: i, latencies: [1, 2, 3], labelled: [] }));
    const routes = ['a', 'b', 'c'].map((arm) => ({ role: 'arm' as const, model: 'm/1', share: arm === 'c' ? 34 : 33, arm }));
    const r = buildAbReport({ name: 'three', routes, updatedAt: 10 }, stats, timeSeries([], { since: 0, until: 100 }), { since: 0, until: 100 }, { alpha: 0.1 });
    assert.deepEqual(r.comparisons.map((c) => [c.control, c.treatment, c.errorRate.test.alpha, c.metric]), [['arm:a', 'arm:b', 0.05, undefined], ['arm:a', 'arm:c', 0.05, undefined]]);
    assert.ok(r.notes.some((n) => n.startsWith('The deployment last changed at 1970-01-01T00:00:00.010Z, after the window began')));
    assert.ok(r.notes.some((n) => n.startsWith('No labels yet')));
    assert.equal(r.srm!.df, 2);
    const earlier = buildAbReport({ name: 'three', routes, updatedAt: 0 }, stats, timeSeries([], { since: 0, until: 100 }), { since: 0, until: 100 });
    assert.ok(!earlier.notes.some((n) => n.startsWith('The deployment last changed')));
    assert.equal(earlier.comparisons[0]!.errorRate.test.alpha, 0.025);
  });

  it('interpolates percentiles as numpy does, and widens buckets past a day of minutes', () => {
    assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
    assert.equal(percentile([10, 20, 30, 40, 50], 95), 48);
    assert.equal(percentile([7], 99), 7);
    const week = timeSeries([{ time: 0, route: 'primary' }, { time: 7 * 86_400_000 - 1, route: 'primary', error: 'x' }], { since: 0, until: 7 * 86_400_000 });
    assert.equal(week.bucketMs, 7 * 60_000);
    assert.equal(week.routes[0]!.requests.length, 1440);
  });

  it('goes to snake_case JSON and back unchanged', () => {
    const json = abReportJson(canary);
    assert.equal((json.srm as { chi_square: number }).chi_square, canary.srm!.chiSquare);
    assert.ok('error_rate' in (json.routes as object[])[0]!);
    assert.deepEqual(abReportFromJson(JSON.parse(JSON.stringify(json))), canary);
  });

  it('draws the page: the routes, the tests and the plots', () => {
    const html = abReportHtml(ab);
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<title>A\/B report: income-ab<\/title>/);
    for (const label of ['requests', 'error rate', 'p95 latency (ms)', 'accuracy', 'requests per minute', 'error rate per minute']) {
      assert.ok(html.includes(`<svg role="img" aria-label="${label}"`), `a plot of ${label}`);
    }
    assert.match(html, /<span class="flag">significant<\/span>: arm:b is better/);
    assert.match(html, /no mismatch/);
    assert.ok(!/<script/i.test(html));
    assert.match(abReportHtml(canary), /<span class="flag">mismatch<\/span>/);
  });
});
