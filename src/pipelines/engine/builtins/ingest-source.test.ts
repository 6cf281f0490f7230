/**
 * The ingest built-in reading a query on the real PostgreSQL (127.0.0.1:5432, a table made here):
 * the rows reach the next step, the output records the source without its password, the query and
 * the snapshot's digest; the next run reads the table again (a live source is not cached).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { writeFile } from 'node:fs/promises';
import { dryRun } from '../../ci/dry-run.js';
import { parsePipeline } from '../../ir.js';
import { PipelineEngine } from '../engine.js';
import { openTestServices } from '../test-helpers/engine-fixture.js';

const who = { actor: 'tester' };
const PG = process.env.TRELLIS_TEST_PG_DB ?? 'postgres://postgres@127.0.0.1:5432/test';

describe('ingest from postgres://', () => {
  const table = `trellis_ingest_${randomBytes(5).toString('hex')}`;
  let admin: pg.Client;
  let s: Awaited<ReturnType<typeof openTestServices>>;
  before(async () => {
    admin = new pg.Client({ connectionString: PG });
    await admin.connect();
    await admin.query(`CREATE TABLE ${table} (id integer, x double precision, y text)`);
    await admin.query(`INSERT INTO ${table} SELECT g, g * 0.5, CASE WHEN g % 2 = 0 THEN 'even' ELSE 'odd' END FROM generate_series(1, 10) g`);
    s = await openTestServices();
  });
  after(async () => {
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.end();
    await s.close();
  });

  const pipeline = (source: string, query?: string) => parsePipeline(JSON.stringify({
    format: 'trellis.pipeline/v1', name: 'from-pg',
    steps: [
      { name: 'ingest', component: 'ingest', inputs: { dataset: source, ...(query !== undefined ? { query } : {}) } },
      { name: 'split', component: 'split', inputs: { data: { step: 'ingest', output: 'data' }, strategy: 'time', orderBy: 'id', testSize: 0.2 } },
    ],
  }), 'pipeline.json');

  it('reads the rows of the query into the run and records source, query and digest', async () => {
    const engine = new PipelineEngine(s, { who, workDir: join(s.dir, 'work') });
    const query = `select id, x, y from ${table} order by id`;
    const source = PG.replace('postgres://postgres@', 'postgres://postgres:hunter2@');
    const r = await engine.run(pipeline(source, query), {});
    assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
    const ingest = r.steps.find((x) => x.step === 'ingest')!;
    const data = (await s.tracking.readArtifact(ingest.runId!, 'outputs/data')).toString().trim().split('\n');
    assert.equal(data[0], 'id,x,y');
    assert.equal(data.length, 11);
    assert.equal(data[1], '1,0.5,odd');
    const meta = ingest.outputs.data!.meta!;
    assert.equal(meta.file, PG);
    assert.equal(meta.query, query);
    assert.match(meta.sha256!, /^[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(ingest).includes('hunter2'));
    const test = (await s.tracking.readArtifact(r.steps.find((x) => x.step === 'split')!.runId!, 'outputs/test')).toString().trim().split('\n');
    assert.deepEqual(test.slice(1).map((l) => l.split(',')[0]), ['9', '10']);

    // The table changes: the next run reads it again rather than reusing the first snapshot.
    await admin.query(`INSERT INTO ${table} VALUES (11, 5.5, 'odd')`);
    const again = await engine.run(pipeline(source, query), {});
    const ingest2 = again.steps.find((x) => x.step === 'ingest')!;
    assert.equal(ingest2.status, 'done');
    assert.notEqual(ingest2.outputs.data!.meta!.sha256, meta.sha256);
    assert.equal((await s.tracking.readArtifact(ingest2.runId!, 'outputs/data')).toString().trim().split('\n').length, 12);
  });

  it('fails the step with a clear error for a missing query or a SQL error', async () => {
    const engine = new PipelineEngine(s, { who, workDir: join(s.dir, 'work2') });
    const noQuery = await engine.run(pipeline(PG), {});
    assert.equal(noQuery.status, 'FAILED');
    assert.match(JSON.stringify(noQuery.failed), /is a database: give the query/);
    const bad = await engine.run(pipeline(PG, `select nope from ${table}`), {});
    assert.equal(bad.status, 'FAILED');
    assert.match(JSON.stringify(bad.failed), /column \\?"nope\\?" does not exist/);
    const fileWithQuery = await engine.run(pipeline('rows.csv', 'select 1'), {});
    assert.equal(fileWithQuery.status, 'FAILED');
    assert.match(JSON.stringify(fileWithQuery.failed), /applies only to a SQL source/);
  });

  it('a dry run does not connect to the source: it asks for a sample file, and runs on one', async () => {
    const query = `select id, x, y from ${table}`;
    await assert.rejects(dryRun(pipeline(PG, query), { baseDir: s.dir }), /reads the source 'postgres:\/\/postgres@127\.0\.0\.1:5432\/test', which a dry run does not connect to: give a file with the same columns, --data ingest=<file>/);
    const sample = join(s.dir, 'sample.csv');
    await writeFile(sample, 'id,x,y\n1,0.5,odd\n2,1,even\n3,1.5,odd\n4,2,even\n5,2.5,odd\n');
    const r = await dryRun(pipeline(PG, query), { baseDir: s.dir, data: { ingest: sample } });
    assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
  });
});
