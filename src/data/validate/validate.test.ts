import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readTable } from '../readers/index.js';
import { tableFromRows } from '../table.js';
import { profileTable } from '../profile/profile.js';
import { inferSchema } from '../schema/infer.js';
import { parseSchema, type DatasetSchema } from '../schema/schema.js';
import { validateTable, formatReport } from './validate.js';

/** A small census-like training set: deterministic, with a label only present in training. */
function training(n = 2000) {
  return Array.from({ length: n }, (_, i) => ({
    age: 18 + (i * 7) % 60,
    hours: 20 + (i % 41),
    sex: i % 3 === 0 ? 'Female' : 'Male',
    workclass: i % 10 === 0 ? null : ['Private', 'Self-emp', 'Gov'][i % 3]!,
    married: i % 2 === 0,
    income: i % 4 === 0 ? '>50K' : '<=50K',
  }));
}

const schemaOf = (rows: Record<string, unknown>[]): DatasetSchema =>
  inferSchema(profileTable(tableFromRows(rows)), { environments: { income: ['training'] } });

describe('schema inference', () => {
  it('infers types, nullability with headroom, ranges, domains and environments', () => {
    const s = schemaOf(training());
    const col = (n: string) => s.columns.find((c) => c.name === n)!;
    assert.equal(col('age').type, 'integer');
    assert.deepEqual(col('age').range, { min: 18, max: 77 });
    assert.equal(col('age').nullable, false);
    assert.equal(col('workclass').nullable, true);
    assert.ok(col('workclass').maxMissing! >= 0.1 && col('workclass').maxMissing! <= 0.2);
    assert.deepEqual(col('workclass').domain, ['Gov', 'Private', 'Self-emp']);
    assert.equal(col('married').type, 'boolean');
    assert.deepEqual(col('income').environments, ['training']);
    assert.deepEqual(s.environments, ['serving', 'training']);
    assert.equal(s.defaultEnvironment, 'training');
    assert.deepEqual(parseSchema(JSON.parse(JSON.stringify(s))), s);
  });

  it('refuses an edited schema with a clear message naming the field', () => {
    const s = schemaOf(training(10));
    const bad = (patch: (x: any) => void) => { // eslint-disable-line @typescript-eslint/no-explicit-any
      const copy = JSON.parse(JSON.stringify(s));
      patch(copy);
      return () => parseSchema(copy);
    };
    assert.throws(bad((x) => (x.columns[0].type = 'number')), /column 'age': 'type' must be one of/);
    assert.throws(bad((x) => (x.columns[1].range = { min: 5, max: 1 })), /column 'hours': 'range'/);
    assert.throws(bad((x) => (x.columns[0].expectations = [{ kind: 'median', min: 1 }])), /unknown kind "median"/);
    assert.throws(bad((x) => x.columns.push({ ...x.columns[0] })), /column 'age' appears twice/);
    assert.throws(() => parseSchema([]), /JSON object/);
  });
});

describe('validation', () => {
  const schema = schemaOf(training());
  const reference = profileTable(tableFromRows(training()));

  it('passes the data it was inferred from, and reports distances with sample sizes', () => {
    const r = validateTable(tableFromRows(training()), schema, { reference });
    assert.equal(r.ok, true, formatReport(r));
    assert.equal(r.anomalies.length, 0);
    assert.equal(r.distances.length, 6);
    for (const d of r.distances) {
      assert.ok(d.value < 0.02, `${d.column} ${d.value}`);
      assert.equal(d.referenceSize > 0 && d.sampleSize > 0, true);
    }
  });

  it('finds missing and unexpected columns, and a label present at serving time', () => {
    const serving = training(100).map(({ income: _i, hours: _h, ...r }) => ({ ...r, extra: 1 }));
    const r = validateTable(tableFromRows(serving), schema, { environment: 'serving' });
    const kinds = r.anomalies.map((a) => `${a.kind}:${a.column}`).sort();
    assert.deepEqual(kinds, ['missing_column:hours', 'unexpected_column:extra']);
    const leaked = validateTable(tableFromRows(training(100)), schema, { environment: 'serving' });
    assert.deepEqual(leaked.anomalies.map((a) => `${a.kind}:${a.column}`), ['not_in_environment:income']);
    assert.equal(leaked.ok, false);
    // In training the label is required.
    const noLabel = validateTable(tableFromRows(serving), schema, { environment: 'training' });
    assert.ok(noLabel.anomalies.some((a) => a.kind === 'missing_column' && a.column === 'income'));
  });

  it('finds type mismatches, nulls, out-of-range and out-of-domain values with shares and examples', () => {
    const bad = training(200).map((r, i) => ({
      ...r,
      age: i < 10 ? 150 : r.age,
      sex: i < 4 ? 'Unknown' : r.sex,
      hours: i === 0 ? 'forty' : r.hours,
      workclass: i < 120 ? null : r.workclass,
    }));
    const r = validateTable(tableFromRows(bad), schema);
    const by = (k: string) => r.anomalies.find((a) => a.kind === k)!;
    assert.equal(r.ok, false);
    assert.equal(by('out_of_range').column, 'age');
    assert.equal(by('out_of_range').count, 10);
    assert.equal(by('out_of_range').share, 10 / 200);
    assert.deepEqual(by('out_of_range').examples, [150]);
    assert.equal(by('out_of_domain').column, 'sex');
    assert.equal(by('out_of_domain').count, 4);
    assert.deepEqual(by('out_of_domain').examples, ['Unknown']);
    assert.equal(by('type_mismatch').column, 'hours');
    assert.ok(by('type_mismatch').examples!.includes('forty'));
    assert.equal(by('null_rate').column, 'workclass');
    // 120 rows nulled here plus the 8 the data had among the rest (every tenth row).
    assert.equal(by('null_rate').share, 128 / 200);
    const nonNull = validateTable(tableFromRows([{ ...training(1)[0]!, age: null }]), schema);
    assert.ok(nonNull.anomalies.some((a) => a.kind === 'null_values' && a.column === 'age'));
    assert.match(formatReport(r), /^FAIL: 200 rows, \d+ blocking anomalies/);
  });

  it('detects skew against the reference with L-infinity and Jensen-Shannon', () => {
    const shifted = training(1000).map((r) => ({ ...r, sex: 'Female', hours: r.hours + 30 }));
    const r = validateTable(tableFromRows(shifted), schema, { reference });
    const skew = r.anomalies.filter((a) => a.kind === 'skew').map((a) => a.column).sort();
    assert.deepEqual(skew, ['hours', 'sex']);
    const sex = r.distances.find((d) => d.column === 'sex')!;
    assert.equal(sex.measure, 'l_infinity');
    // Training has 1/3 Female (exactly 667/2000); the batch is all Female: L∞ = 1 − 667/2000.
    assert.ok(Math.abs(sex.value - (1 - 667 / 2000)) < 1e-9, String(sex.value));
    assert.equal(r.distances.find((d) => d.column === 'hours')!.measure, 'jensen_shannon');
  });

  it('checks expectations written without a reference', () => {
    const s = parseSchema({
      ...schema,
      columns: schema.columns.map((c) =>
        c.name === 'married' ? { ...c, expectations: [{ kind: 'share', value: true, min: 0.45, max: 0.55 }] }
          : c.name === 'age' ? { ...c, expectations: [{ kind: 'mean', min: 40, max: 50 }, { kind: 'quantile', q: 0.5, max: 60 }] }
            : c.name === 'workclass' ? { ...c, expectations: [{ kind: 'max_share', max: 0.1 }] } : c),
    });
    const r = validateTable(tableFromRows(training()), s);
    assert.deepEqual(r.anomalies.map((a) => `${a.kind}:${a.column}`), ['expectation:workclass']);
    assert.match(r.anomalies[0]!.message, /makes up 3\d\.\d% of 'workclass', more than the allowed 10\.0%/);
    const skewed = validateTable(tableFromRows(training().map((x) => ({ ...x, married: true }))), s);
    assert.ok(skewed.anomalies.some((a) => a.column === 'married' && /share of true in 'married' is 100\.0%/.test(a.message)));
  });

  it('validates a 1,000-record JSON batch, as a serving request sends it', () => {
    const batch = training(1000).map(({ income: _i, ...r }) => r);
    const r = validateTable(tableFromRows(JSON.parse(JSON.stringify(batch))), schema, { reference, environment: 'serving' });
    assert.equal(r.ok, true, formatReport(r));
    assert.equal(r.rows, 1000);
    assert.equal(r.environment, 'serving');
  });

  it('reports an empty batch', () => {
    const r = validateTable(tableFromRows([]), schema);
    assert.equal(r.ok, false);
    assert.equal(r.anomalies[0]!.kind, 'empty');
  });
  it('names the cells of a numeric column that are not numbers, with their lines', async () => {
    const rows = Array.from({ length: 100 }, (_, i) => `${i % 24},${i}`);
    rows[69] = '2O,69'; // line 71: the header is line 1
    const schema = inferSchema(profileTable(tableFromRows(rows.slice(0, 10).map((_, i) => ({ hr: i, n: i })))));
    const table = await readTable({ bytes: Buffer.from(`hr,n\n${rows.join('\n')}\n`), name: 'hours.csv' });
    const a = validateTable(table, schema).anomalies.find((x) => x.kind === 'type_mismatch')!;
    assert.equal(a.column, 'hr');
    assert.match(a.message, /expects whole numbers; line 71 has "2O"/);
    assert.deepEqual(a.examples, ['2O']);
    assert.equal(a.count, 1);
  });
});
