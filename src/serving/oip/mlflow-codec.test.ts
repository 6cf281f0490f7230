import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { predict } from '../../ml/model.js';
import { SAMPLE, trainedModel } from '../test-helpers/tiny-service.js';
import { ServingError, type InputColumn } from '../types.js';
import { decodeMlflowRequest } from './mlflow-codec.js';
import { decodeV1, predictionsResponse } from './v1-codec.js';

const model = trainedModel();
const signature: InputColumn[] = model.features.inputs.map((c) => ({ name: c.name, type: c.type }));
const names = signature.map((c) => c.name);
const rowsInOrder = SAMPLE.map((r) => names.map((n) => r[n as keyof typeof r]));
const json = (doc: unknown) => Buffer.from(JSON.stringify(doc));
const opts = { signature, maxBatch: 10 };
const mlflow = (doc: unknown, contentType = 'application/json') => decodeMlflowRequest(typeof doc === 'string' ? Buffer.from(doc) : json(doc), contentType, opts);

async function refused(f: () => unknown, kind: ServingError['kind'], message: RegExp): Promise<void> {
  await assert.rejects(async () => f(), (e: unknown) => {
    assert.ok(e instanceof ServingError, `expected a ServingError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, message);
    return true;
  });
}

describe('KServe v1 / TF Serving predict requests', () => {
  it('decodes instances as objects, as arrays in signature order, and columns as inputs', () => {
    assert.deepEqual(decodeV1(json({ instances: SAMPLE }), opts).records, SAMPLE);
    assert.deepEqual(decodeV1(json({ instances: rowsInOrder }), opts).records, SAMPLE);
    const columns = Object.fromEntries(names.map((n) => [n, SAMPLE.map((r) => r[n as keyof typeof r])]));
    assert.deepEqual(decodeV1(json({ inputs: columns }), opts).records, SAMPLE);
    assert.deepEqual(decodeV1(json({ instances: [1.5, null] }), { signature: [{ name: 'v', type: 'float' }], maxBatch: 5 }).records, [{ v: 1.5 }, { v: null }]);
    // A column absent from some records is null there.
    const d = decodeV1(json({ instances: [SAMPLE[0], { ...SAMPLE[1], city: undefined }] }), opts);
    assert.equal(d.records[1]!.city, null);
    assert.deepEqual(predict(model, decodeV1(json({ instances: SAMPLE }), opts).records), predict(model, SAMPLE));
  });

  it('refuses what does not fit the signature, naming the row and column', async () => {
    const v1 = (doc: unknown, maxBatch = 10) => () => decodeV1(json(doc), { signature, maxBatch });
    await refused(v1({ instances: [{ ...SAMPLE[0], agee: 3 }] }), 'invalid', /instances\[0\] has the unknown column "agee"/);
    await refused(v1({ instances: [{ age: 3 }] }), 'invalid', /instances is missing the columns hours \(float\), member \(boolean\), city \(string\), since \(datetime\)/);
    await refused(v1({ instances: [{ ...SAMPLE[0], age: 'old' }] }), 'invalid', /instances\[0\]\.age: column 'age' \(integer\) needs a number, got string "old"/);
    await refused(v1({ instances: [[1, 2]] }), 'invalid', /instances\[0\] has 2 values; expected 5/);
    await refused(v1({ instances: [SAMPLE[0], [1]] }), 'invalid', /mixes objects with other rows/);
    await refused(v1({ instances: [] }), 'invalid', /The batch is empty/);
    await refused(v1({ instances: SAMPLE }, 2), 'too_large', /3 rows/);
    await refused(v1({ instances: SAMPLE, inputs: {} }), 'invalid', /exactly one of 'instances' \(rows\) and 'inputs'/);
    await refused(v1({ inputs: { age: [1, 2], hours: [1], member: [], city: [], since: [] } }), 'invalid', /inputs.hours has 1 values; inputs.age has 2/);
    await refused(v1({ inputs: { age: [1, 2] } }), 'invalid', /inputs is missing the columns hours \(float\)/);
    await refused(v1({ instances: { age: 1 } }), 'invalid', /'instances' must be an array of rows/);
    await refused(() => decodeV1(Buffer.from('[1]'), opts), 'invalid', /must be a JSON object/);
    await refused(() => decodeV1(Buffer.from('{"instances": [{"__proto__": {"x": 1}}]}'), opts), 'invalid', /unknown column "__proto__"/);
  });

  it('answers {"predictions": [...]} with labels for classifiers and values for regression', () => {
    const p = predict(model, SAMPLE);
    const r = predictionsResponse({ modelName: 'income', modelVersion: '3', registeredModel: 'm', route: 'primary', task: 'binary', predictions: p });
    assert.deepEqual(r, { predictions: Array.from(p.prediction, (k) => model.classes![k]) });
    assert.deepEqual(predictionsResponse({ modelName: 'x', modelVersion: '1', registeredModel: 'm', route: 'primary', task: 'regression', predictions: { prediction: Float64Array.of(2.5) } }), { predictions: [2.5] });
  });
});

describe('MLflow /invocations requests', () => {
  it('decodes dataframe_split, dataframe_records, instances and inputs', async () => {
    // Columns in another order than the signature, as pandas may write them.
    const cols = [...names].reverse();
    const split = { dataframe_split: { index: [0, 1, 2], columns: cols, data: SAMPLE.map((r) => cols.map((n) => r[n as keyof typeof r])) } };
    assert.deepEqual((await mlflow(split)).records, SAMPLE);
    assert.deepEqual((await mlflow({ dataframe_split: { data: rowsInOrder } })).records, SAMPLE);
    assert.deepEqual((await mlflow({ dataframe_records: SAMPLE, params: { threshold: 0.3 } })), { records: SAMPLE, params: { threshold: 0.3 } });
    assert.deepEqual((await mlflow({ instances: SAMPLE })).records, SAMPLE);
    assert.deepEqual((await mlflow({ inputs: rowsInOrder })).records, SAMPLE);
    assert.deepEqual((await mlflow({ inputs: Object.fromEntries(names.map((n) => [n, SAMPLE.map((r) => r[n as keyof typeof r])])) })).records, SAMPLE);
    const recs = (await mlflow({ dataframe_records: SAMPLE })).records;
    assert.deepEqual(predict(model, recs), predict(model, SAMPLE));
  });

  it('decodes text/csv with a header, typing cells by the signature', async () => {
    const csv = 'city,age,hours,member,since\nLyon,25,20.5,False,2020-03-04T00:00:00.000Z\nParis,61,55,True,2020-11-20T00:00:00.000Z\n"Nice",40,35.5,0,2020-06-15T00:00:00.000Z\n';
    const d = await mlflow(csv, 'text/csv; charset=utf-8');
    assert.deepEqual(d.records, SAMPLE);
    const missing = await mlflow('age,hours,member,city,since\n,1.5,,NA,\n', 'text/csv');
    assert.deepEqual(missing.records, [{ age: null, hours: 1.5, member: null, city: null, since: null }]);
    await refused(() => mlflow('age,hours,member,city,since\nold,1,1,a,2020-01-01\n', 'text/csv'), 'invalid', /CSV line 2 column 'age': column 'age' \(integer\) needs a number, got string "old"/);
    await refused(() => mlflow('age,hours,member,city,since,extra\n1,1,1,a,2020-01-01,9\n', 'text/csv'), 'invalid', /The CSV header has the unknown column "extra"/);
    await refused(() => mlflow('age,hours\n1,2\n', 'text/csv'), 'invalid', /The CSV header is missing the columns member/);
    await refused(() => mlflow('age,hours,member,city,since\n', 'text/csv'), 'invalid', /no data row/);
    await refused(() => mlflow('', 'text/csv'), 'invalid', /empty/);
    const many = `age,hours,member,city,since\n${'1,1,1,a,2020-01-01\n'.repeat(11)}`;
    await refused(() => mlflow(many, 'text/csv'), 'too_large', /at most 10/);
  });

  it('refuses malformed scoring requests as MLflow does, naming the problem', async () => {
    await refused(() => mlflow({ dataframe_records: SAMPLE, instances: SAMPLE }), 'invalid', /exactly one of dataframe_split, dataframe_records, instances, inputs; it has dataframe_records, instances/);
    await refused(() => mlflow({ data: SAMPLE }), 'invalid', /it has none \(keys: data\)/);
    await refused(() => mlflow('[1, 2]'), 'invalid', /must be a JSON object, got an array/);
    await refused(() => mlflow('{"dataframe_records": '), 'invalid', /not valid JSON/);
    await refused(() => mlflow({ dataframe_split: { columns: ['age'], data: [[1]] } }), 'invalid', /dataframe_split.columns is missing the columns hours/);
    await refused(() => mlflow({ dataframe_split: { columns: [...names, 'age'], data: [] } }), 'invalid', /names the column 'age' twice/);
    await refused(() => mlflow({ dataframe_split: { columns: names, data: rowsInOrder, index: [0] } }), 'invalid', /'dataframe_split.index' must be an array with one entry per row \(3\)/);
    await refused(() => mlflow({ dataframe_split: { columns: names, data: [[1, 2, 3, 4]] } }), 'invalid', /dataframe_split.data\[0\] has 4 values; expected 5/);
    await refused(() => mlflow({ dataframe_records: 'x' }), 'invalid', /'dataframe_records' must be an array of records/);
    await refused(() => mlflow({ dataframe_records: [{ ...SAMPLE[0], since: 'tomorrow' }] }), 'invalid', /dataframe_records\[0\]\.since is string "tomorrow", not an ISO-8601 date-time/);
    await refused(() => mlflow({ instances: SAMPLE, params: [1] }), 'invalid', /'params' must be an object/);
    await refused(() => mlflow({ instances: SAMPLE }, 'application/x-www-form-urlencoded'), 'invalid', /Content-Type 'application\/x-www-form-urlencoded' is not supported for \/invocations/);
    await refused(() => mlflow({ instances: SAMPLE }, 'application/json; charset=latin-1'), 'invalid', /charset 'latin-1' is not supported/);
    await refused(() => mlflow({ instances: SAMPLE }, 'application/json; format=pandas-split'), 'invalid', /Content-Type parameter 'format' is not supported/);
    await refused(() => decodeMlflowRequest(json({ instances: SAMPLE }), undefined, opts), 'invalid', /Content-Type '' is not supported/);
  });
});
