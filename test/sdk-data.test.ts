import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTrellisError, type ErrorCode } from '../src/core/errors.js';
import type { Trellis } from '../src/sdk/trellis.js';
import { openEmbedded, openRemote, type Opener } from './test-helpers/sdk-openers.js';

const BIKE = fileURLToPath(new URL('../examples/data/bike_sharing_hourly.csv', import.meta.url));
const LINES = readFileSync(BIKE, 'utf8').split('\r\n').filter((l) => l);
const HEADER = LINES[0]!.split(',');

/** Every 37th row as a serving request sends it, so every hour and weekday is sampled. */
const records = (): Record<string, string | number>[] =>
  LINES.slice(1).filter((_, i) => i % 37 === 0).map((l) => {
    const cells = l.split(',');
    return Object.fromEntries(HEADER.map((h, j) => [h, h === 'dteday' ? cells[j]! : Number(cells[j])]));
  });

const code = (c: ErrorCode) => (e: unknown) => isTrellisError(e, c);

/** The same scenario and assertions, whether the SDK reaches the stores directly or through a server. */
function describeData(name: string, open: Opener): void {
  describe(`t.data (${name})`, () => {
    let dir: string;
    let t: Trellis;
    let cleanup: () => Promise<void>;
    let head: string;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), `trellis-sdk-data-${name}-`));
      head = join(dir, 'bike-head.csv');
      writeFileSync(head, `${LINES.slice(0, 1001).join('\n')}\n`);
      ({ t, cleanup } = await open(dir));
    });
    after(async () => {
      await t.close();
      await cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('adds versions: new content numbered, the same content found again', async () => {
      const first = await t.data.add('bike', BIKE, { subjectColumn: 'instant', description: 'hourly rentals' });
      assert.equal(first.created, true);
      assert.equal(first.version.version, 1);
      assert.equal(first.version.rows, 17379);
      assert.equal(first.version.sha256, 'e03de4ee4ef4dc376ac6e04bf829673c6269e8eba5c60fa121640fa2f829504f');
      assert.equal(first.version.schema.columns.find((c) => c.name === 'cnt')!.type, 'integer');
      assert.equal('sketch' in first.version.profile.columns[0]!, false);
      assert.equal((await t.data.add('bike', BIKE)).created, false);
      const second = await t.data.add('bike', head);
      assert.deepEqual([second.created, second.version.version, second.version.rows], [true, 2, 1000]);
    });

    it('lists, reads and diffs versions', async () => {
      const [bike] = await t.data.list();
      assert.deepEqual([bike!.name, bike!.latestVersion, bike!.subjectColumn, bike!.description], ['bike', 2, 'instant', 'hourly rentals']);
      assert.deepEqual((await t.data.versions('bike')).map((v) => [v.version, v.rows]), [[1, 17379], [2, 1000]]);
      assert.equal((await t.data.get('bike')).version, 2);
      const v1 = await t.data.get('bike@1');
      assert.equal(v1.format, 'csv');
      assert.equal(v1.sizeBytes, 1_156_736);
      assert.ok(Math.abs(v1.profile.columns.find((c) => c.name === 'cnt')!.numeric!.sum - 3_292_679) < 1e-6);
      const stored = await t.data.bytes('bike@2');
      assert.equal(stored.version.version, 2);
      assert.equal(stored.data.toString('utf8'), readFileSync(head, 'utf8'));
      await assert.rejects(t.data.bytes('bike@9'), code('TRELLIS_DATASET_VERSION_NOT_FOUND'));
      const d = await t.data.diff('bike@1', 'bike@2');
      assert.equal(d.b.rows - d.a.rows, 1000 - 17379);
      const yr = d.columns.find((c) => c.column === 'yr')!;
      assert.equal(yr.stats.find((s) => s.stat === 'mean')!.b, 0);
      assert.deepEqual([yr.distance!.sampleSize, yr.distance!.referenceSize], [1000, 17379]);
    });

    it('validates records and checks them for skew', async () => {
      const good = await t.data.validate(records(), 'bike@1');
      assert.equal(good.ok, true, JSON.stringify(good.anomalies));
      assert.match(good.against, /bike@1/);
      assert.ok(good.distances.every((x) => x.referenceSize === 17379));
      // The row number and the date move on with every slice: checked, not compared.
      const excluded = [{ column: 'instant', reason: 'role id' }, { column: 'dteday', reason: 'role time' }];
      assert.deepEqual(good.excludedFromDrift, excluded);
      assert.ok(!good.distances.some((x) => x.column === 'instant' || x.column === 'dteday'));

      const batch = records();
      batch[2]!.season = 7;
      const bad = await t.data.validate(batch, 'bike@1', { environment: 'serving' });
      assert.equal(bad.ok, false);
      assert.equal(bad.environment, 'serving');
      const season = bad.anomalies.find((a) => a.column === 'season')!;
      assert.deepEqual([season.kind, season.examples], ['out_of_range', [7]]);

      const hot = Array.from({ length: 200 }, (_, i) => ({ instant: i, dteday: '2012-07-01', season: 3, yr: 1, mnth: 7, hr: i % 24, holiday: 0, weekday: 0, workingday: 0, weathersit: 1, temp: 0.9, atemp: 0.85, hum: 0.3, windspeed: 0.1, casual: 50, registered: 200 }));
      const s = await t.data.skew(hot, 'bike@1');
      assert.ok(s.skewed.includes('temp'));
      assert.ok(!s.skewed.includes('hr'));
      assert.ok(s.distances.every((x) => x.sampleSize === 200));
      assert.deepEqual(s.excludedFromDrift, excluded);
    });

    it('fails with the same error codes', async () => {
      await assert.rejects(t.data.get('nope'), code('TRELLIS_DATASET_NOT_FOUND'));
      await assert.rejects(t.data.get('bike@9'), code('TRELLIS_DATASET_VERSION_NOT_FOUND'));
      await assert.rejects(t.data.get('bike@x'), code('TRELLIS_INVALID_PARAMETER'));
      await assert.rejects(t.data.versions('nope'), code('TRELLIS_DATASET_NOT_FOUND'));
      const ragged = join(dir, 'ragged.csv');
      writeFileSync(ragged, 'a,b\n1,2\n3\n');
      await assert.rejects(t.data.add('ragged', ragged), (e) => isTrellisError(e, 'TRELLIS_DATA_PARSE') && /ragged\.csv:3/.test(e.message));
      assert.deepEqual((await t.data.list()).map((d) => d.name), ['bike']);
      await assert.rejects(t.data.add('x', join(dir, 'missing.csv')), code('TRELLIS_DATA_FILE_NOT_FOUND'));
      await assert.rejects(t.data.add('x', head, { format: 'xlsx' as 'csv' }), code('TRELLIS_INVALID_PARAMETER'));
      await assert.rejects(t.data.validate({ not: 'rows' } as unknown as object[], 'bike@1'), code('TRELLIS_INVALID_PARAMETER'));
      await assert.rejects(t.data.skew([], 'nope@1'), code('TRELLIS_DATASET_NOT_FOUND'));
    });

    it('checks files on this machine, pins schemas, keeps environments and says which columns broke their type', async () => {
      // The first 1000 hours are winter: against themselves they pass, against the whole year they are skewed.
      const r = await t.data.validateFile(head, { against: 'bike@2' });
      assert.equal(r.ok, true, JSON.stringify(r.anomalies));
      assert.equal(r.rows, 1000);
      assert.ok(r.distances.every((x) => x.sampleSize === 1000 && x.referenceSize === 1000));
      const year = await t.data.validateFile(head, { against: 'bike@1' });
      assert.equal(year.ok, false);
      assert.ok(year.anomalies.some((a) => a.kind === 'skew' && a.column === 'temp'));
      const hot = join(dir, 'hot.csv');
      writeFileSync(hot, `${['season,temp,hr', ...Array.from({ length: 100 }, (_, i) => `3,0.9,${i % 24}`)].join('\n')}\n`);
      const s = await t.data.skewFile(hot, 'bike@1');
      assert.ok(s.skewed.includes('temp') && !s.skewed.includes('hr'), JSON.stringify(s.skewed));
      await assert.rejects(t.data.validateFile(join(dir, 'missing.csv'), { against: 'bike@1' }), code('TRELLIS_DATA_FILE_NOT_FOUND'));

      assert.equal(await t.data.schema('bike'), undefined);
      const inferred = (await t.data.get('bike@1')).schema;
      const doc = await t.data.putSchema('bike', inferred, { pin: true });
      assert.deepEqual([doc.name, doc.schemaVersion, doc.pinned], ['bike', 1, true]);
      assert.deepEqual((await t.data.schema('bike'))?.schema, doc.schema);
      await assert.rejects(t.data.putSchema('bike', { format: 'nope' }), code('TRELLIS_INVALID_PARAMETER'));

      const envFile = join(dir, 'env.csv');
      writeFileSync(envFile, 'a,b,cnt\n1,2,3\n4,5,6\n7,x,9\n');
      const added = await t.data.add('env', envFile, { environments: { cnt: ['training'] } });
      assert.deepEqual(added.version.schema.columns.find((c) => c.name === 'cnt')!.environments, ['training']);
      assert.deepEqual(added.typeBreaks.map((b) => [b.column, b.line, b.value]), [['b', 4, 'x']]);
      const serving = join(dir, 'serving.csv');
      writeFileSync(serving, 'a,b\n1,2\n');
      const check = await t.data.validateFile(serving, { against: 'env@1', environment: 'serving' });
      assert.ok(!check.anomalies.some((a) => a.column === 'cnt'), JSON.stringify(check.anomalies));
      assert.ok((await t.data.validateFile(serving, { against: 'env@1', environment: 'training' })).anomalies.some((a) => a.column === 'cnt'));
    });
  });
}

describeData('embedded', openEmbedded('tester'));
describeData('remote', openRemote);
