import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArtifactStore } from '../store/artifact-store.js';
import type { StepEdge } from '../store/ports/pipelines.js';
import { openArtifactStore, openStores } from '../store/open-stores.js';
import type { Stores } from '../store/stores.js';
import { lineageOf, lineageText, parseLineageRef } from './lineage.js';

const who = { actor: 'tester' };
const sha = (c: string) => c.repeat(64);

describe('lineageOf on hand-made records', () => {
  let dir: string;
  let stores: Stores;
  let artifacts: ArtifactStore;
  const ids: Record<string, string> = {};
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-lineage-'));
    stores = await openStores(`sqlite:${join(dir, 't.db')}`);
    artifacts = await openArtifactStore(`file:${join(dir, 'a')}`);
    const base = { format: 'csv', rows: 10, columns: 2, sizeBytes: 10, source: 'x.csv', artifactPath: 'd/x.csv', schema: {}, profile: {} };
    await stores.datasets.createDatasetVersion({ ...base, name: 'raw', sha256: sha('a') }, who);
    await stores.datasets.createDatasetVersion({ ...base, name: 'clean', sha256: sha('b'), lineage: { parent: 'raw@1' } }, who);
    const exp = await stores.tracking.createExperiment({ name: 'p' }, who);
    // A pipeline run: ingest → train → score (batch-score of the trained model), as the engine
    // records it: a pipeline run and step runs with their edges, each mirrored as an MLflow run.
    const pipe = await stores.tracking.createRun({ experimentId: exp, tags: { 'trellis.pipeline': 'p' } }, who);
    ids.pipe = pipe.info.runId;
    await stores.pipelines.createPipelineRun({
      id: ids.pipe, pipeline: 'p', pipelineVersion: '1', irHash: sha('9'), experimentId: exp, params: {}, baseDir: dir, runner: { host: 'h', pid: 1 },
    }, who);
    const step = async (name: string, component: string, out: Record<string, Record<string, string> | undefined>, consumed: StepEdge[], produced: StepEdge[] = []) => {
      const r = await stores.tracking.createRun({ experimentId: exp, tags: { 'mlflow.parentRunId': ids.pipe!, 'trellis.step': name, 'trellis.component': component } }, who);
      ids[name] = r.info.runId;
      const entries = Object.fromEntries(Object.entries(out).map(([k, m]) => [k, { type: 'x', sha256: sha('c'), run: r.info.runId, name: k, kind: 'file' as const, ...(m ? { meta: m } : {}) }]));
      await stores.pipelines.startStepRun({ id: r.info.runId, pipelineRunId: ids.pipe!, experimentId: exp, step: name, component, edges: consumed }, who);
      await stores.pipelines.finishStepRun(r.info.runId, { outputs: entries, metrics: {}, edges: produced }, who);
    };
    const from = (input: string, upstream: string, output: string): StepEdge => ({ role: 'input', name: input, kind: 'step', ref: ids[upstream]!, output, holder: ids[upstream]!, sha256: sha('c') });
    await step('ingest', 'ingest@1', { data: { dataset: 'clean@1', sha256: sha('b') } }, [], [{ role: 'input', name: 'dataset', kind: 'dataset', ref: 'clean@1' }]);
    await step('train', 'train@1', { model: undefined }, [from('data', 'ingest', 'data')]);
    await step('score', 'batch-score@1', { predictions: undefined }, [from('model', 'train', 'model'), from('data', 'ingest', 'data')]);
    await stores.registry.createRegisteredModel({ name: 'm' }, who);
    await stores.registry.createModelVersion({ name: 'm', source: `runs:/${ids.train}/outputs/model`, runId: ids.train }, who);
    await stores.registry.createModelVersion({ name: 'm', source: `runs:/${ids.train}/outputs/model`, runId: ids.train }, who);
  });
  after(async () => {
    await stores.close();
    await artifacts.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('follows the IR, the ingest record and the dataset derivation upstream; batch scoring downstream', async () => {
    const g = await lineageOf({ ...stores, artifacts }, 'm/1');
    const rel = (from: string, to: string) => g.edges.filter((e) => e.from === from && e.to === to).map((e) => e.relation);
    assert.deepEqual(rel(`step:${ids.train}`, 'model-version:m/1'), ['source']);
    assert.deepEqual(rel(`step:${ids.ingest}`, `step:${ids.train}`), ['feeds']);
    assert.deepEqual(rel('dataset-version:clean@1', `step:${ids.ingest}`), ['input']);
    assert.deepEqual(rel('dataset-version:raw@1', 'dataset-version:clean@1'), ['derived']);
    assert.deepEqual(rel('model-version:m/1', `step:${ids.score}`), ['scored']);
    // The other version made from the same run is there too.
    assert.deepEqual(rel(`step:${ids.train}`, 'model-version:m/2'), ['source']);
    const text = lineageText(g);
    assert.match(text, /← step train \(train@1\) in pipeline p run \w{8} {2}\(source\)\n {4}← step ingest \(ingest@1\) in pipeline p run \w{8} {2}\(feeds ingest\.data → data\)\n {6}← dataset clean@1 {2}\(input\)\n {8}← dataset raw@1 {2}\(derived parent\)/);
    assert.match(text, /downstream:\n {2}→ step score \(batch-score@1\)/);
  });

  it('reads dataset references and refuses malformed ones', async () => {
    assert.deepEqual(parseLineageRef('dataset:raw@latest'), { kinds: ['dataset'], ref: { name: 'raw', selector: { kind: 'latest' } } });
    // The one reference syntax: name/2 is version 2 of a model or of a dataset, name@word an alias of a model.
    assert.deepEqual(parseLineageRef('m/2'), { kinds: ['model', 'dataset'], ref: { name: 'm', selector: { kind: 'version', version: 2 } } });
    assert.deepEqual(parseLineageRef('dataset:raw/1'), { kinds: ['dataset'], ref: { name: 'raw', selector: { kind: 'version', version: 1 } } });
    assert.deepEqual(parseLineageRef('m@champion').kinds, ['model']);
    assert.throws(() => parseLineageRef('raw'), /a lineage reference is/);
    assert.throws(() => parseLineageRef('dataset:raw@champion'), /no alias 'champion' on dataset 'raw'/);
    assert.throws(() => parseLineageRef('m@1@2'), /'m@1@2' is not a reference/);
    assert.equal((await lineageOf({ ...stores, artifacts }, 'raw/1')).root, 'dataset-version:raw@1');
    await assert.rejects(lineageOf({ ...stores, artifacts }, 'raw@7'), /no version 7 of dataset 'raw' \(versions: 1\)/);
    await assert.rejects(lineageOf({ ...stores, artifacts }, 'm@9'), /no version 9 of model 'm' \(versions: 1, 2\)/);
    const g = await lineageOf({ ...stores, artifacts }, 'raw@1');
    assert.equal(g.root, 'dataset-version:raw@1');
    assert.ok(g.edges.some((e) => e.from === 'dataset-version:raw@1' && e.to === 'dataset-version:clean@1'));
    await assert.rejects(lineageOf({ ...stores, artifacts }, 'm/1', { depth: -1 }), /depth must be a whole number/);
  });
});
