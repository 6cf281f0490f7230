import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTrellisError } from '../src/core/errors.js';
import { Workspace } from '../src/workspace/workspace.js';
import type { Profile } from '../src/data/profile/profile.js';
import type { DatasetSchema } from '../src/data/schema/schema.js';

const BIKE = fileURLToPath(new URL('../examples/data/bike_sharing_hourly.csv', import.meta.url));
const who = { actor: 'analyst' };

describe('dataset versions', () => {
  let dir: string;
  let ws: Workspace;
  let head: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-data-'));
    ws = await Workspace.open({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });
    const lines = readFileSync(BIKE, 'utf8').split('\r\n');
    head = join(dir, 'bike-head.csv');
    writeFileSync(head, `${lines.slice(0, 1001).join('\n')}\n`);
  });
  after(async () => {
    await ws.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds the bike-sharing data: content-addressed, schema inferred, profiled, subjects indexed', async () => {
    const r = await ws.data.add('bike', BIKE, { subjectColumn: 'instant', environments: { cnt: ['training'] } }, who);
    assert.equal(r.created, true);
    const v = r.version;
    assert.equal(v.version, 1);
    assert.equal(v.sha256, 'e03de4ee4ef4dc376ac6e04bf829673c6269e8eba5c60fa121640fa2f829504f');
    assert.equal(v.rows, 17379);
    assert.equal(v.columns, 17);
    assert.equal(v.createdBy, 'analyst');
    const schema = v.schema as DatasetSchema;
    const col = (n: string) => schema.columns.find((c) => c.name === n)!;
    assert.equal(col('cnt').type, 'integer');
    assert.deepEqual(col('cnt').range, { min: 1, max: 977 });
    assert.equal(col('temp').type, 'float');
    assert.equal(col('dteday').type, 'datetime');
    assert.deepEqual(col('cnt').environments, ['training']);
    const profile = v.profile as Profile;
    const cnt = profile.columns.find((c) => c.name === 'cnt')!;
    // Published: total cnt 3,292,679 over 17,379 hours.
    assert.ok(Math.abs(cnt.numeric!.sum - 3_292_679) < 1e-6);
    assert.ok(Math.abs(cnt.numeric!.mean - 3_292_679 / 17_379) < 1e-9);
    assert.equal(profile.columns.find((c) => c.name === 'season')!.distinct, 4);
    const stored = await ws.tracking.getArtifact(v.artifactPath);
    assert.equal(stored.length, 1_156_736);
    assert.deepEqual(await ws.data.findSubject('17379'), [{ name: 'bike', version: 1 }]);
  });

  it('returns the same version for the same bytes, numbers new content, and diffs versions', async () => {
    assert.equal((await ws.data.add('bike', BIKE, {}, who)).created, false);
    const r2 = await ws.data.add('bike', head, { lineage: { derived_from: 'bike@1' } }, who);
    assert.equal(r2.version.version, 2);
    assert.equal(r2.version.rows, 1000);
    assert.deepEqual((await ws.data.versions('bike')).map((v) => v.version), [1, 2]);
    assert.deepEqual(await ws.data.findSubject('500'), [{ name: 'bike', version: 1 }, { name: 'bike', version: 2 }]);
    const d = await ws.data.diff('bike@1', 'bike@2');
    assert.equal(d.b.rows - d.a.rows, 1000 - 17379);
    assert.deepEqual(d.schema, { added: [], removed: [], retyped: [] });
    const yr = d.columns.find((c) => c.column === 'yr')!;
    // The first 1,000 hours are all in 2011: the mean of yr drops from 0.5026 to 0.
    assert.equal(yr.stats.find((s) => s.stat === 'mean')!.b, 0);
    assert.ok(yr.distance!.value > 0.4);
    assert.equal((await ws.data.get('bike@latest')).version, 2);
    assert.equal((await ws.data.get('bike@1')).rows, 17379);
  });

  it('validates a file against a version, and pins an edited schema as the contract', async () => {
    const ok = await ws.data.validateFile(head, { ref: 'bike@1' });
    assert.deepEqual(ok.anomalies.filter((a) => a.kind !== 'skew'), []);
    assert.match(ok.against, /bike@1 \(inferred/);
    // Every column but the row number and the date, which are checked and not compared.
    assert.ok(ok.distances.length === 15 && ok.distances.every((d) => d.referenceSize === 17379 && d.sampleSize > 0));
    assert.deepEqual(ok.excludedFromDrift.map((e) => e.column), ['instant', 'dteday']);
    const broken = join(dir, 'broken.csv');
    writeFileSync(broken, readFileSync(head, 'utf8').replace(/\n(\d+),2011-01-01,1,0,1,0,/, '\n$1,2011-01-01,7,0,1,0,').replace(/,16\n/, ',-5\n'));
    const bad = await ws.data.validateFile(broken, { ref: 'bike@1' });
    assert.equal(bad.ok, false);
    assert.ok(bad.anomalies.some((a) => a.kind === 'out_of_range' && a.column === 'season'));
    assert.ok(bad.anomalies.some((a) => a.kind === 'out_of_range' && a.column === 'cnt' && a.examples?.includes(-5)));

    const schema = structuredClone((await ws.data.get('bike@1')).schema) as DatasetSchema;
    schema.columns.find((c) => c.name === 'hum')!.expectations = [{ kind: 'mean', min: 0.9 }];
    const doc = await ws.data.putSchema('bike', schema, true, who);
    assert.equal(doc.schemaVersion, 1);
    const pinned = await ws.data.validateFile(head, { ref: 'bike@1' });
    assert.match(pinned.against, /schema 1 \(pinned\)/);
    assert.ok(pinned.anomalies.some((a) => a.kind === 'expectation' && a.column === 'hum'));
    await assert.rejects(ws.data.putSchema('bike', { format: 'nope' }, true, who), /'format' must be/);
  });

  it('checks serving records for skew against the training profile', async () => {
    const records = Array.from({ length: 200 }, (_, i) => ({ instant: i, dteday: '2012-07-01', season: 3, yr: 1, mnth: 7, hr: i % 24, holiday: 0, weekday: 0, workingday: 0, weathersit: 1, temp: 0.9, atemp: 0.85, hum: 0.3, windspeed: 0.1, casual: 50, registered: 200 }));
    const s = await ws.data.skew(records, 'bike@1');
    assert.ok(s.skewed.includes('temp'), JSON.stringify(s.distances.find((d) => d.column === 'temp')));
    assert.ok(!s.skewed.includes('hr'));
    assert.ok(s.distances.every((d) => d.sampleSize === 200));
    await assert.rejects(ws.data.validateRecords({ not: 'an array' }, { ref: 'bike@1' }), /array of JSON objects/);
  });

  it('leaves no version behind when an add fails', async () => {
    const ragged = join(dir, 'ragged.csv');
    writeFileSync(ragged, 'a,b\n1,2\n3\n');
    await assert.rejects(ws.data.add('ragged', ragged, {}, who), (e) => isTrellisError(e, 'TRELLIS_DATA_PARSE') && /ragged\.csv:3/.test(e.message));
    await assert.rejects(ws.data.getDataset('ragged'), (e) => isTrellisError(e, 'TRELLIS_DATASET_NOT_FOUND'));
    await assert.rejects(ws.data.add('bike', BIKE, { subjectColumn: 'nope' }, who), /Subject column 'nope' is not a column/);
    assert.deepEqual((await ws.data.versions('bike')).map((v) => v.version), [1, 2]);
    assert.deepEqual(await ws.tracking.listArtifactDir('datasets/ragged').catch(() => []), []);
  });

  it('profiles a large CSV in a stream with the same result as in memory', async () => {
    const streamed = await ws.data.add('bike-streamed', BIKE, { streamAboveBytes: 1 }, who);
    const inMemory = (await ws.data.get('bike@1')).profile as Profile;
    const p = streamed.version.profile as Profile;
    assert.equal(p.rows, inMemory.rows);
    p.columns.forEach((c, i) => {
      assert.equal(c.type, inMemory.columns[i]!.type, c.name);
      assert.equal(c.missing, inMemory.columns[i]!.missing);
      if (c.numeric) assert.ok(Math.abs(c.numeric.mean - inMemory.columns[i]!.numeric!.mean) < 1e-9, c.name);
    });
  });
});
