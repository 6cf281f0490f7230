/**
 * Row ids and timestamps move on with every new slice of data: inference recognises them (and only
 * them), gives them no range, and validation checks their presence and type but leaves them out of
 * the distribution comparison, saying so. Per-column drift thresholds and `drift: false`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readTable } from '../readers/index.js';
import { dataset, type DatasetFile } from '../readers/test-helpers/data-files.js';
import { tableFromRows, type Table } from '../table.js';
import { mergeProfiles, profileTable, ProfileBuilder } from '../profile/profile.js';
import { inferRole, inferSchema } from '../schema/infer.js';
import { parseSchema, type DatasetSchema } from '../schema/schema.js';
import { formatReport, validateTable } from './validate.js';

const BIKE = dataset('bike_sharing_hourly.csv');

/** The hours of the bike file whose date passes `keep`, as a table. */
async function bikeHours(keep: (day: string) => boolean): Promise<Table> {
  const lines = readFileSync(BIKE, 'utf8').split(/\r?\n/).filter(Boolean);
  const csv = [lines[0], ...lines.slice(1).filter((l) => keep(l.split(',')[1]!))].join('\n');
  return readTable({ bytes: Buffer.from(csv), name: 'hours.csv' }, { format: 'csv' });
}

const roleOf = (rows: Record<string, unknown>[], name: string) => inferRole(profileTable(tableFromRows(rows)).columns.find((c) => c.name === name)!);
const rows = (n: number, f: (i: number) => Record<string, unknown>) => Array.from({ length: n }, (_, i) => f(i));

describe('roles at inference', () => {
  it('the bike file: instant is an id, dteday a time, and the features keep their ranges', async () => {
    const s = inferSchema(profileTable(await readTable(BIKE)));
    const col = (n: string) => s.columns.find((c) => c.name === n)!;
    assert.equal(col('instant').role, 'id');
    assert.equal(col('dteday').role, 'time');
    assert.equal(col('instant').range, undefined);
    assert.equal(col('dteday').range, undefined);
    for (const f of ['season', 'yr', 'mnth', 'hr', 'holiday', 'weekday', 'workingday', 'weathersit', 'temp', 'atemp', 'hum', 'windspeed', 'casual', 'registered', 'cnt']) {
      assert.equal(col(f).role, undefined, f);
      assert.ok(col(f).range, f);
    }
  });

  it('names and shapes of ids and times', () => {
    assert.equal(roleOf(rows(50, (i) => ({ user_id: 1000 + i * 7 })), 'user_id'), 'id');
    assert.equal(roleOf(rows(50, (i) => ({ orderId: `o-${i}` })), 'orderId'), 'id');
    assert.equal(roleOf(rows(50, (i) => ({ ID: 50 - i })), 'ID'), 'id');
    // A row number counting up by one is an id whatever its name.
    assert.equal(roleOf(rows(50, (i) => ({ seq: 101 + i })), 'seq'), 'id');
    assert.equal(roleOf(rows(50, (i) => ({ created_at: new Date(Date.UTC(2024, 0, 1 + ((i * 17) % 50))) })), 'created_at'), 'time');
    assert.equal(roleOf(rows(50, (i) => ({ when: new Date(Date.UTC(2024, 0, 1 + Math.floor(i / 3))) })), 'when'), 'time');
    assert.equal(roleOf(rows(50, (i) => ({ timestamp: 1_700_000_000 + Math.floor(i / 2) * 60 })), 'timestamp'), 'time');
  });

  it('is conservative: features that look a little like ids or times keep their role as features', () => {
    // Named like an id but repeated: a foreign key is a feature of the row.
    assert.equal(roleOf(rows(50, (i) => ({ store_id: i % 7 })), 'store_id'), undefined);
    // Unique integers that do not count up in row order: a rank is a feature.
    assert.equal(roleOf(rows(50, (i) => ({ rank: ((i * 17) % 50) + 1 })), 'rank'), undefined);
    // Ends in "id" without being one.
    assert.equal(roleOf(rows(50, (i) => ({ paid: i * 3 })), 'paid'), undefined);
    assert.equal(roleOf(rows(50, (i) => ({ valid: `v${i}` })), 'valid'), undefined);
    // An unordered date not named as the moment of the row (a birth date).
    assert.equal(roleOf(rows(50, (i) => ({ birth: new Date(Date.UTC(1950 + ((i * 13) % 50), 0, 1)) })), 'birth'), undefined);
    // Integers named like a time but not in order.
    assert.equal(roleOf(rows(50, (i) => ({ start_time: (i * 37) % 24 })), 'start_time'), undefined);
    // Floats are never ids.
    assert.equal(roleOf(rows(50, (i) => ({ id: i + 0.5 })), 'id'), undefined);
  });

  it('the real datasets: ids and times only where they are', async () => {
    const roles = async (file: DatasetFile) => Object.fromEntries(inferSchema(profileTable(await readTable(dataset(file)))).columns.filter((c) => c.role).map((c) => [c.name, c.role]));
    assert.deepEqual(await roles('adult_train.csv'), {});
    assert.deepEqual(await roles('german_credit.csv'), {});
    assert.deepEqual(await roles('occupancy.csv'), { date: 'time' });
    assert.deepEqual(await roles('credit_default.csv'), { ID: 'id' });
  });

  it('profiles record row order across batches and merges', () => {
    const t = (from: number, to: number) => tableFromRows(rows(to - from, (i) => ({ n: from + i, k: (from + i) % 3 })));
    const b = new ProfileBuilder().add(t(0, 10)).add(t(10, 30)).finish();
    assert.deepEqual(b.columns[0]!.ascending, { first: 0, last: 29, strictly: true });
    assert.equal(b.columns[1]!.ascending, undefined);
    const merged = mergeProfiles(profileTable(t(0, 10)), profileTable(t(10, 30)));
    assert.deepEqual(merged.columns[0]!.ascending, { first: 0, last: 29, strictly: true });
    // The second part starting below the end of the first breaks the order.
    assert.equal(mergeProfiles(profileTable(t(10, 30)), profileTable(t(0, 10))).columns[0]!.ascending, undefined);
    const repeats = profileTable(tableFromRows([{ n: 1 }, { n: 1 }, { n: 2 }]));
    assert.deepEqual(repeats.columns[0]!.ascending, { first: 1, last: 2, strictly: false });
  });
});

describe('drift per column', () => {
  it('a later year of bike hours: ids and times are not compared and the report says so', async () => {
    const ref = profileTable(await bikeHours((d) => d < '2012'));
    const schema = inferSchema(ref);
    const r = validateTable(await bikeHours((d) => d >= '2012'), schema, { reference: ref });
    assert.deepEqual(r.excludedFromDrift, [{ column: 'instant', reason: 'role id' }, { column: 'dteday', reason: 'role time' }]);
    const flagged = new Set(r.anomalies.map((a) => a.column));
    assert.ok(!flagged.has('instant') && !flagged.has('dteday'), formatReport(r));
    assert.ok(!r.distances.some((d) => d.column === 'instant' || d.column === 'dteday'));
    assert.match(formatReport(r), /not compared with the reference: instant \(role id\), dteday \(role time\)/);
  });

  it('an excluded column is still checked: present, of its type, in its range', async () => {
    const ref = profileTable(await bikeHours((d) => d < '2011-03'));
    const schema = inferSchema(ref);
    const later = await bikeHours((d) => d >= '2011-03' && d < '2011-04');
    const idCol = schema.columns.find((c) => c.name === 'instant')!;
    const withRange: DatasetSchema = { ...schema, columns: schema.columns.map((c) => (c === idCol ? { ...c, range: { min: 1 } } : c)) };
    assert.ok(validateTable(later, withRange, { reference: ref }).anomalies.every((a) => a.column !== 'instant'));
    const negative = tableFromRows(rows(5, (i) => ({ instant: -i - 1 })));
    const r = validateTable(negative, { ...withRange, unexpectedColumns: 'ignore' }, { reference: ref });
    assert.ok(r.anomalies.some((a) => a.kind === 'out_of_range' && a.column === 'instant' && /outside ≥ 1/.test(a.message)), formatReport(r));
    const texts = tableFromRows(rows(5, (i) => ({ instant: `row-${i}` })));
    assert.ok(validateTable(texts, { ...schema, unexpectedColumns: 'ignore' }, { reference: ref }).anomalies.some((a) => a.kind === 'type_mismatch' && a.column === 'instant'));
    assert.ok(validateTable(tableFromRows([{ cnt: 3 }]), { ...schema, unexpectedColumns: 'ignore' }).anomalies.some((a) => a.kind === 'missing_column' && a.column === 'instant'));
  });

  it('a column threshold overrides the schema one; drift: false leaves a feature out; a threshold brings an id back', () => {
    const ref = profileTable(tableFromRows(rows(2000, (i) => ({ id: i, x: (i % 100) / 100, c: i % 2 ? 'a' : 'b' }))));
    const batch = tableFromRows(rows(2000, (i) => ({ id: 5000 + i, x: 0.2 + (i % 100) / 250, c: i % 5 ? 'a' : 'b' })));
    const base = inferSchema(ref);
    const r0 = validateTable(batch, base, { reference: ref });
    const dist = (r: typeof r0, n: string) => r.distances.find((d) => d.column === n);
    assert.ok(r0.anomalies.some((a) => a.kind === 'skew' && a.column === 'x'));
    assert.ok(r0.anomalies.some((a) => a.kind === 'skew' && a.column === 'c'));
    const edit = (patch: Record<string, object>) => parseSchema({ ...base, columns: base.columns.map((c) => ({ ...c, ...(patch[c.name] ?? {}) })) });
    const loose = validateTable(batch, edit({ x: { drift: 0.9 }, c: { drift: 0.9 } }), { reference: ref });
    assert.equal(dist(loose, 'x')!.threshold, 0.9);
    assert.equal(dist(loose, 'c')!.threshold, 0.9);
    assert.ok(!loose.anomalies.some((a) => a.kind === 'skew'));
    const off = validateTable(batch, edit({ x: { drift: false } }), { reference: ref });
    assert.equal(dist(off, 'x'), undefined);
    assert.deepEqual(off.excludedFromDrift, [{ column: 'id', reason: 'role id' }, { column: 'x', reason: 'drift: false' }]);
    const idBack = validateTable(batch, edit({ id: { drift: 0.5 } }), { reference: ref });
    assert.equal(dist(idBack, 'id')!.threshold, 0.5);
  });
});

describe('schemas with roles and drift', () => {
  it('round-trip through JSON, and stored schemas without them still load', async () => {
    const s = inferSchema(profileTable(await readTable(BIKE)));
    const edited = JSON.parse(JSON.stringify(s)) as DatasetSchema;
    const yr = edited.columns.find((c) => c.name === 'yr')!;
    yr.drift = false;
    yr.range = { min: 0, max: 1 };
    edited.columns.find((c) => c.name === 'cnt')!.range = { min: 0 };
    assert.deepEqual(parseSchema(JSON.parse(JSON.stringify(edited))), edited);
    const old = { format: 'trellis.schema/v1', columns: [{ name: 'a', type: 'integer', nullable: false, range: { min: 0, max: 5 } }], skew: { categorical: 0.1, numeric: 0.1 }, unexpectedColumns: 'error' };
    assert.deepEqual(parseSchema(old), old);
  });

  it('refuses a bad role, drift or range, naming the column', () => {
    const base = { format: 'trellis.schema/v1', columns: [{ name: 'a', type: 'integer', nullable: false }] };
    const bad = (extra: object) => () => parseSchema({ ...base, columns: [{ ...base.columns[0], ...extra }] });
    assert.throws(bad({ role: 'key' }), /column 'a': 'role' must be one of id, time, feature, got "key"/);
    assert.throws(bad({ drift: true }), /column 'a': 'drift' must be false .* or a non-negative threshold, got true/);
    assert.throws(bad({ drift: -0.1 }), /column 'a': 'drift'/);
    assert.throws(bad({ range: {} }), /column 'a': 'range' must be/);
    assert.throws(bad({ range: { min: 'zero' } }), /column 'a': 'range' must be/);
    assert.doesNotThrow(bad({ role: 'feature', drift: 0.2, range: { max: 10 } }));
  });
});
