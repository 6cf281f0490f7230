// Writes src/store/sql/fixtures/tracking-v5/: trellis.db, a SQLite store written through the
// tracking port of schema 5 (runs, metric histories with NaN and infinities, params, tags, dataset
// inputs, a deleted run, two experiments), and expected.json, what that code read back from it:
// every run, every metric history, and a set of searches page by page. Written at bb9d0b3, the
// last commit whose metrics, params, tags and inputs name their run by `run_uuid`, so that the
// upgrade to integer run keys (migration 6) can be checked against the reads of the code before
// it. Never regenerate it with later code.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../src/core/clock.js';
import { openSqlStores } from '../src/store/sql/sql-stores.js';
import { SqliteDriver } from '../src/store/sqlite/sqlite-driver.js';
import type { Run } from '../src/store/ports/tracking.js';
import { parseRunFilter, parseRunOrderBy } from '../src/tracking/search/search-filter.js';

const dir = fileURLToPath(new URL('../src/store/sql/fixtures/tracking-v5/', import.meta.url));
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
let tick = 1_700_000_000_000;
const clock: Clock = { now: () => (tick += 7) };
const stores = await openSqlStores(SqliteDriver.open(`${dir}trellis.db`), { clock });
const t = stores.tracking;
const who = { actor: 'fixture' };

const expA = await t.createExperiment({ name: 'upgrade-a', tags: { team: 'a' } }, who);
const expB = await t.createExperiment({ name: 'upgrade-b' }, who);
// Keys in an order that differs from insertion, with upper and lower case, slashes and colons, and
// params whose keys look like integers (which JavaScript objects put first).
const METRIC_KEYS = ['loss', 'Acc', 'acc', 'val/loss', 'a:b', 'B_9'];
const ids: string[] = [];
for (let i = 0; i < 24; i++) {
  const run = await t.createRun({ experimentId: i < 21 ? expA : expB, runName: `run-${i}`, startTime: 1_700_000_100_000 + (i % 5) * 1000, tags: { owner: i % 2 ? 'Ann' : 'bob' } }, who);
  const id = run.info.runId;
  ids.push(id);
  const metrics = [];
  for (const [k, key] of METRIC_KEYS.entries()) {
    if ((i + k) % 4 === 3) continue;
    for (let step = 0; step < 3; step++) metrics.push({ key, value: ((i * 7 + k * 3 + step) % 11) / 10, timestamp: 1_700_000_200_000 + step, step });
  }
  if (i % 6 === 1) metrics.push({ key: 'loss', value: Number.NaN, timestamp: 1_700_000_300_000, step: 9 });
  if (i % 6 === 2) metrics.push({ key: 'loss', value: Number.POSITIVE_INFINITY, timestamp: 1_700_000_300_000, step: 9 });
  if (i % 6 === 3) metrics.push({ key: 'loss', value: Number.NEGATIVE_INFINITY, timestamp: 1_700_000_300_000, step: 9 });
  const params = [{ key: 'alpha', value: String(i % 3) }, { key: 'model', value: i % 2 ? 'gbdt' : 'linear' }];
  if (i % 4 === 0) params.push({ key: '10', value: 'ten' }, { key: '2', value: 'two' });
  await t.logBatch(id, { metrics, params, tags: [{ key: 'stage', value: ['dev', 'Prod', 'prod'][i % 3]! }] }, who);
  if (i % 5 === 0) {
    await t.logInputs(id, [{ dataset: { name: 'bikes', digest: `d${i}`, sourceType: 'local', source: '{"uri":"bikes.csv"}', schema: '{"mlflow_colspec":[]}' }, tags: { 'mlflow.data.context': i % 10 ? 'eval' : 'training' } }], who);
  }
  if (i % 7 === 6) await t.updateRun(id, { status: 'FINISHED', endTime: 1_700_000_400_000 + i }, who);
}
await t.deleteRun(ids[4]!, who);
await t.deleteRunTag(ids[5]!, 'owner', who);

const SEARCHES: { experiments: string[]; filter?: string; orderBy?: string[]; viewType?: 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL'; pageSize: number }[] = [
  { experiments: [expA], pageSize: 100 },
  { experiments: [expA, expB], pageSize: 7 },
  { experiments: [expA], filter: 'metrics.acc > 0.3', orderBy: ['metrics.loss DESC'], pageSize: 4 },
  { experiments: [expA], filter: "metrics.Acc <= 0.5 and params.alpha = '1'", orderBy: ['metrics.acc ASC'], pageSize: 3 },
  { experiments: [expA], filter: "params.model = 'gbdt'", orderBy: ['params.alpha DESC', 'metrics.loss ASC'], pageSize: 5 },
  { experiments: [expA], filter: "tags.stage LIKE 'p%'", orderBy: ['tags.owner ASC'], pageSize: 100 },
  { experiments: [expA], filter: "tags.stage ILIKE 'p%' and attributes.status = 'FINISHED'", pageSize: 100 },
  { experiments: [expA], orderBy: ['metrics.`val/loss` DESC', 'attributes.run_name ASC'], pageSize: 6 },
  { experiments: [expA], filter: "datasets.name = 'bikes'", orderBy: ['attributes.start_time ASC'], pageSize: 100 },
  { experiments: [expA], filter: "datasets.context = 'training'", pageSize: 100 },
  { experiments: [expA], filter: 'metrics.loss >= 0', orderBy: ['metrics.loss ASC'], pageSize: 2 },
  { experiments: [expA], viewType: 'DELETED_ONLY', pageSize: 100 },
  { experiments: [expA, expB], viewType: 'ALL', orderBy: ['metrics.B_9 ASC'], pageSize: 10 },
];

/** NaN and the infinities as strings, so JSON keeps them. */
const plain = (v: unknown) => JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x))) as unknown;

const runs: Record<string, unknown> = {};
const histories: Record<string, Record<string, unknown>> = {};
for (const id of ids) {
  const run: Run = await t.getRun(id);
  runs[id] = plain(run);
  histories[id] = {};
  for (const key of METRIC_KEYS) histories[id][key] = plain((await t.getMetricHistory(id, key)).items);
  histories[id].loss_paged = plain((await t.getMetricHistory(id, 'loss', { maxResults: 2 })));
}
const searches = [];
for (const s of SEARCHES) {
  const pages: unknown[] = [];
  const filter = parseRunFilter(s.filter);
  const orderBy = parseRunOrderBy(s.orderBy);
  let pageToken: string | undefined;
  do {
    const page = await t.searchRuns({ experimentIds: s.experiments, filter, orderBy, viewType: s.viewType, maxResults: s.pageSize, pageToken });
    // A page holds run ids: each item is the run as getRun read it (checked here), kept once in `runs`.
    for (const item of page.items) if (JSON.stringify(plain(item)) !== JSON.stringify(runs[item.info.runId])) throw new Error(`search and getRun disagree on ${item.info.runId}`);
    pages.push({ runIds: page.items.map((r) => r.info.runId), nextPageToken: page.nextPageToken ?? null });
    pageToken = page.nextPageToken;
  } while (pageToken);
  // The parsed clauses too: the store's tests may not import the parser (tracking/ sits above store/).
  searches.push({ ...s, clauses: { filter, orderBy }, pages });
}
await stores.close();
writeFileSync(`${dir}expected.json`, `${JSON.stringify({ schemaVersion: 5, runs, histories, searches })}\n`);
