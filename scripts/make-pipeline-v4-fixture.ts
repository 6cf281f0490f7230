// Writes src/store/sql/fixtures/pipeline-v4/: a workspace (SQLite store and artifact folder) as
// Trellis at schema version 4 left it, when pipeline runs lived only as MLflow runs with trellis.*
// tags, together with the answers that Trellis gave on it (`pipelines why` for every step of every
// run, and the lineage of the registered versions and of the dataset version) in expected.json.
// The upgrade test migrates a copy and checks that the answers, and the cache, are unchanged.
//
// It must run on the code of schema 4, before pipeline records got tables of their own: ed2069b, the
// commit that added this file. It is kept as written for that code (whose services it builds by hand),
// so this tree's type check and lint leave it out (tsconfig.eslint.json, eslint.config.js).
//   git worktree add /tmp/v4 ed2069b && ln -s "$PWD/node_modules" /tmp/v4/node_modules
//   cp scripts/make-pipeline-v4-fixture.ts /tmp/v4/scripts/ && (cd /tmp/v4 && npx tsx scripts/make-pipeline-v4-fixture.ts)
//   cp -r /tmp/v4/src/store/sql/fixtures/pipeline-v4 src/store/sql/fixtures/
// Never regenerate a fixture of a version that has shipped.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatasetService } from '../src/data/datasets.js';
import { PipelineEngine } from '../src/pipelines/engine/engine.js';
import { explainCache } from '../src/pipelines/engine/why.js';
import type { PipelineIR } from '../src/pipelines/ir.js';
import { parsePipeline } from '../src/pipelines/ir.js';
import { RegistryService } from '../src/registry/registry-service.js';
import { lineageOf } from '../src/registry/lineage.js';
import { openArtifactStore, openMetadataStore } from '../src/store/open-stores.js';
import { currentVersion } from '../src/store/sql/migrations.js';
import { SqliteDriver } from '../src/store/sqlite/sqlite-driver.js';
import { TrackingService } from '../src/tracking/tracking-service.js';

const out = fileURLToPath(new URL('../src/store/sql/fixtures/pipeline-v4/', import.meta.url));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const who = { actor: 'fixture' };

// A small regression set, the same bytes every time: y = 3·x1 − 2·x2 + 10, with a little noise.
let seed = 7;
const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
const rows = ['x1,x2,y'];
for (let i = 0; i < 160; i++) {
  const x1 = Math.round(rand() * 1000) / 100;
  const x2 = Math.round(rand() * 1000) / 100;
  rows.push(`${x1},${x2},${Math.round((3 * x1 - 2 * x2 + 10 + (rand() - 0.5)) * 100) / 100}`);
}
const csv = join(tmpdir(), `trellis-v4-fixture-${process.pid}.csv`);
writeFileSync(csv, `${rows.join('\n')}\n`);

const pipelineYaml = `
format: trellis.pipeline/v1
name: demo
version: "1"
params:
  - { name: dataset, type: string, default: demo@latest }
  - { name: trees, type: integer, default: 5 }
  - { name: target, type: string, default: y }
steps:
  - { name: ingest, component: ingest, inputs: { dataset: { param: dataset } } }
  - { name: split, component: split, inputs: { data: { step: ingest, output: data }, testSize: 0.25, seed: 3 } }
  - name: train
    component: train
    inputs: { data: { step: split, output: train }, target: { param: target }, algo: gbdt, trees: { param: trees }, maxLeaves: 7, seed: 7 }
  - { name: evaluate, component: evaluate, inputs: { model: { step: train, output: model }, data: { step: split, output: test }, target: y, bootstrap: 20 } }
  - { name: score, component: batch-score, inputs: { model: { step: train, output: model }, data: { step: split, output: test } } }
  - { name: register, component: register, inputs: { model: { step: train, output: model }, name: demo, alias: champion, metrics: { step: evaluate, output: metrics } } }
`;
const ir: PipelineIR = parsePipeline(pipelineYaml, 'demo.pipeline.yaml');

const meta = await openMetadataStore(`sqlite:${join(out, 'trellis.db')}`);
const artifacts = await openArtifactStore(`file:${join(out, 'artifacts')}`);
const s = { meta, artifacts, tracking: new TrackingService(meta, artifacts), registry: new RegistryService(meta), data: new DatasetService(meta, artifacts) };
await s.data.add('demo', csv, {}, who);
rmSync(csv);
const engine = new PipelineEngine(s, { who, workDir: join(tmpdir(), `trellis-v4-work-${process.pid}`) });

const runs: { label: string; runId: string; status: string; steps: { step: string; status: string; runId?: string }[] }[] = [];
const record = async (label: string, params: Record<string, string | number>) => {
  const r = await engine.run(ir, { params });
  runs.push({ label, runId: r.runId, status: r.status, steps: r.steps.map((x) => ({ step: x.step, status: x.status, ...(x.runId ? { runId: x.runId } : {}) })) });
  console.log(`${label}: ${r.runId} ${r.status} ${r.steps.map((x) => `${x.step}=${x.status}`).join(' ')}`);
  return r;
};
const first = await record('first', { trees: 5 });
if (first.status !== 'FINISHED') throw new Error(`the first run ended ${first.status}: ${JSON.stringify(first.failed)}`);
const cached = await record('cached', { trees: 5 });
if (!cached.steps.every((x) => x.status === 'cached')) throw new Error('the second run was not served from cache');
await record('changed', { trees: 6 });
// Two failures: a step that fails as it executes (its run ends FAILED), and one that fails before
// its run exists (the dataset version it names is missing), which leaves the rest skipped.
const failedStep = await record('failed-step', { trees: 6, target: 'nope' });
if (failedStep.status !== 'FAILED' || !failedStep.steps.some((x) => x.step === 'train' && x.status === 'failed' && x.runId)) throw new Error('training on a missing column did not fail');
const failed = await record('failed', { dataset: 'demo@9' });
if (failed.status !== 'FAILED') throw new Error('the run on a missing dataset version did not fail');

// The answers Trellis gives on this store, to compare with once it is migrated.
const why: unknown[] = [];
for (const r of runs) {
  for (const st of r.steps) {
    why.push(await explainCache(meta, r.runId, st.step).then((e) => ({ run: r.label, ...e }), (e: Error) => ({ run: r.label, pipelineRun: r.runId, step: st.step, error: e.message })));
  }
}
const lineage: Record<string, unknown> = {};
for (const ref of ['model:demo/1', 'model:demo/2', 'model:demo@champion', 'dataset:demo@1']) lineage[ref] = await lineageOf(meta, artifacts, ref);

const driver = SqliteDriver.open(join(out, 'trellis.db'));
const schemaVersion = await currentVersion(driver);
await driver.close();
await meta.close();
await artifacts.close();
writeFileSync(join(out, 'expected.json'), `${JSON.stringify({ schemaVersion, pipeline: ir, runs, why, lineage }, null, 2)}\n`);
// The SQLite write-ahead log is folded into the database by close(); nothing else belongs beside it.
for (const f of ['trellis.db-wal', 'trellis.db-shm']) rmSync(join(out, f), { force: true });
console.log(`wrote ${out} (schema ${schemaVersion})`);
