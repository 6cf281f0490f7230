// A pipeline workspace written at schema 4, when pipeline runs were only MLflow runs with trellis.*
// tags (src/store/sql/fixtures/pipeline-v4, made by scripts/make-pipeline-v4-fixture.ts), upgraded:
// `pipelines why` and lineage answer as Trellis answered on it then (expected.json), and running the
// pipeline again is served from the cache. On SQLite (a copy of the fixture's file) and on
// PostgreSQL (the fixture's rows copied into a database at schema 4), each migrated as it opens.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lineageOf, type LineageGraph } from '../../registry/lineage.js';
import { verifyAuditChain } from '../../store/audit-chain.js';
import { PIPELINE_V4_FIXTURE as FIXTURE, SCHEMA_VERSION, pipelineV4OnPostgres, pipelineV4OnSqlite } from '../../store/test-helpers/pipeline-v4-fixture.js';
import { createTestDatabase } from '../../store/test-helpers/postgres.js';
import type { PipelineIR } from '../ir.js';
import { PipelineEngine } from './engine.js';
import { openTestServices } from './test-helpers/engine-fixture.js';
import { explainCache } from './why.js';

const who = { actor: 'tester' };

interface Expected {
  schemaVersion: number;
  pipeline: PipelineIR;
  runs: { label: string; runId: string; status: string; steps: { step: string; status: string; runId?: string }[] }[];
  why: ({ run: string; pipelineRun: string; step: string; error: string } | ({ run: string } & Record<string, unknown>))[];
  lineage: Record<string, LineageGraph>;
}
const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as Expected;

/** A graph with its nodes and edges in one order, to compare as sets. */
const canonical = (g: LineageGraph) => ({
  root: g.root, depth: g.depth,
  nodes: [...g.nodes].sort((a, b) => a.id.localeCompare(b.id)),
  edges: g.edges.map((e) => JSON.stringify([e.from, e.to, e.relation, e.detail ?? null])).sort(),
});

function describeUpgrade(name: string, open: (dir: string) => Promise<{ storeUri: string; cleanup: () => Promise<void> }>): void {
  describe(`a pipeline store written at schema 4, upgraded (${name})`, () => {
    let dir: string;
    let s: Awaited<ReturnType<typeof openTestServices>>;
    let cleanup: () => Promise<void>;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'trellis-v4-'));
      const o = await open(dir);
      cleanup = o.cleanup;
      s = await openTestServices(o.storeUri, { artifactsDir: join(dir, 'artifacts') });
    });
    after(async () => {
      await s.close();
      await cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('converts the tagged history into pipeline records and keeps the audit chain whole', async () => {
      assert.equal(expected.schemaVersion, 4);
      assert.equal(await s.stores.schemaVersion(), SCHEMA_VERSION);
      const runs = await s.stores.pipelines.listPipelineRuns({ pipeline: 'demo' });
      assert.deepEqual(runs.map((r) => r.id).sort(), expected.runs.map((r) => r.runId).sort());
      for (const want of expected.runs) {
        const got = runs.find((r) => r.id === want.runId)!;
        assert.equal(got.status, want.status);
        const steps = await s.stores.pipelines.listStepRuns({ pipelineRunId: want.runId });
        const ran = want.steps.filter((x) => x.runId);
        assert.deepEqual(steps.map((x) => x.id).sort(), ran.map((x) => x.runId).sort(), want.label);
        for (const x of ran) {
          const st = steps.find((y) => y.id === x.runId)!;
          assert.equal(st.cached, x.status === 'cached', `${want.label}/${x.step}`);
          assert.equal(st.status, x.status === 'failed' ? 'FAILED' : 'FINISHED', `${want.label}/${x.step}`);
          if (st.status === 'FINISHED') assert.ok(st.cacheKey && st.keyParts && st.outputs, `${want.label}/${x.step} keeps its key, key parts and outputs`);
        }
      }
      assert.deepEqual((await s.stores.pipelines.listPipelineRuns({ edgesComplete: false })).length, expected.runs.length, 'IR-dependent edges wait for lineage');
      const events = await s.stores.audit.listAuditEvents({ limit: 100_000 });
      assert.equal(verifyAuditChain(events).ok, true);
    });

    it('answers `pipelines why` as before, for every step of every run', async () => {
      assert.ok(expected.why.length >= 25);
      for (const want of expected.why) {
        const { run, ...answer } = want;
        if ('error' in answer && typeof answer.error === 'string') {
          await assert.rejects(explainCache(s.pipelines, String(answer.pipelineRun), String(answer.step)), (e: Error) => {
            assert.equal(e.message, answer.error, `${run}/${String(answer.step)}`);
            return true;
          });
        } else {
          assert.deepEqual(await explainCache(s.pipelines, String(answer.pipelineRun), String(answer.step)), answer, `${run}/${String(answer.step)}`);
        }
      }
    });

    it('draws the same lineage of the registered versions and the dataset version', async () => {
      for (const [ref, want] of Object.entries(expected.lineage)) {
        assert.deepEqual(canonical(await lineageOf({ ...s.stores, artifacts: s.artifacts }, ref)), canonical(want), ref);
      }
      assert.deepEqual(await s.stores.pipelines.listPipelineRuns({ edgesComplete: false }), [], 'lineage filled in the edges once');
      assert.deepEqual(canonical(await lineageOf({ ...s.stores, artifacts: s.artifacts }, 'model:demo/2')), canonical(expected.lineage['model:demo/2']!), 'and reads them again the same');
    });

    it('serves the same pipeline again from the cache, re-applying its registrations', async () => {
      const engine = new PipelineEngine(s, { who, workDir: join(dir, 'work') });
      for (const [trees, version] of [[5, '1'], [6, '2']] as const) {
        const r = await engine.run(expected.pipeline, { params: { trees } });
        assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
        assert.deepEqual(r.steps.map((x) => `${x.step}:${x.status}`), expected.pipeline.steps.map((x) => `${x.name}:cached`), `trees=${trees}`);
        assert.deepEqual(r.registered.map((x) => [x.name, x.version, x.alias, x.created]), [['demo', version, 'champion', false]]);
        const train = await explainCache(s.pipelines, r.runId, 'train');
        const executed = expected.runs.find((x) => x.label === (trees === 5 ? 'first' : 'changed'))!.steps.find((x) => x.step === 'train')!.runId;
        assert.equal(train.verdict, 'hit');
        assert.equal(train.comparedWith, executed, 'the step run that executed at schema 4 is the cache source');
      }
      assert.equal((await s.stores.registry.getVersionByAlias('demo', 'champion')).version, '2');
    });
  });
}

describeUpgrade('SQLite', async (dir) => ({ storeUri: pipelineV4OnSqlite(dir), cleanup: async () => undefined }));

describeUpgrade('PostgreSQL', async (dir) => {
  const db = await createTestDatabase();
  return { storeUri: await pipelineV4OnPostgres(dir, db.uri), cleanup: db.drop };
});
