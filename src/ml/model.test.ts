import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isTrellisError } from '../core/errors.js';
import { tableFromRows } from '../data/table.js';
import { leastSquares } from '../numeric/linalg/least-squares.js';
import { applyFeatures, fitFeatures } from './features.js';
import { MODEL_FORMAT, linearEstimator, loadModel, predict, type TrellisModel } from './model.js';

const rows = Array.from({ length: 200 }, (_, i) => ({ x: i / 10, kind: ['a', 'b'][i % 2]!, y: 3 * (i / 10) + (i % 2 ? 5 : -1) }));

function regressionModel(): TrellisModel {
  const table = tableFromRows(rows);
  const features = fitFeatures(table, [{ column: 'x', kind: 'numeric', scale: 'standard' }, { column: 'kind', kind: 'onehot', unseen: 'error', impute: 'most_frequent' }]);
  const x = applyFeatures(features, table);
  const p = features.outputs.length;
  // Least squares without intercept: the one-hot columns span it.
  const w = leastSquares(x, rows.length, p, new Float64Array(rows.map((r) => r.y)));
  return { format: MODEL_FORMAT, task: 'regression', target: 'y', features, estimator: linearEstimator(w, new Float64Array([0])) };
}

describe('the model format', () => {
  it('round-trips through JSON and predicts one record exactly as a batch', () => {
    const m = loadModel(JSON.stringify(regressionModel()));
    const batch = predict(m, rows.slice(0, 10));
    rows.slice(0, 10).forEach((r, i) => {
      assert.ok(Math.abs(batch.prediction[i]! - r.y) < 1e-9, `row ${i}`);
      assert.equal(predict(m, [r]).prediction[0], batch.prediction[i]);
    });
  });

  it('gives class probabilities for binary and multiclass models', () => {
    const table = tableFromRows([{ x: 0 }, { x: 1 }]);
    const features = fitFeatures(table, [{ column: 'x', kind: 'numeric', scale: 'none' }]);
    const bin = loadModel(JSON.stringify({ format: MODEL_FORMAT, task: 'binary', target: 't', classes: ['no', 'yes'], features, estimator: linearEstimator(new Float64Array([2]), new Float64Array([-1])) }));
    const r = predict(bin, [{ x: 0 }, { x: 1 }]);
    assert.ok(Math.abs(r.proba![1]! - 1 / (1 + Math.exp(1))) < 1e-12);
    assert.deepEqual(Array.from(r.prediction), [0, 1]);
    const multi = loadModel(JSON.stringify({ format: MODEL_FORMAT, task: 'multiclass', target: 't', classes: ['a', 'b', 'c'], features, estimator: linearEstimator(new Float64Array([0, 1, 2]), new Float64Array([0, 0, 0])) }));
    const m = predict(multi, [{ x: 1 }]);
    const e = [1, Math.E, Math.E ** 2];
    const s = e[0]! + e[1]! + e[2]!;
    e.forEach((v, i) => assert.ok(Math.abs(m.proba![i]! - v / s) < 1e-12));
    assert.equal(m.prediction[0], 2);
  });

  it('refuses a corrupted model file with the reason, and checks inputs against the signature', () => {
    const good = JSON.stringify(regressionModel());
    const refused = (text: string, why: RegExp) => assert.throws(() => loadModel(text), (e: unknown) => isTrellisError(e, 'TRELLIS_MODEL_INVALID') && why.test(e.message));
    refused(good.slice(0, good.length / 2), /not JSON/);
    refused(good.replace(MODEL_FORMAT, 'pickle'), /'format' is "pickle"/);
    refused(good.replace(/"weights":"[^"]+"/, '"weights":"AAAA"'), /weights, expected 1 × 3|not valid base64/);
    refused(good.replace('"task":"regression"', '"task":"binary"'), /at least two 'classes'/);
    const m = loadModel(good);
    assert.throws(() => predict(m, [{ x: 1, kind: 'zzz' }]), /category 'zzz' in row 0, unseen in training/);
    assert.throws(() => predict(m, [{ x: 'high', kind: 'a' }]), /Feature 'x' must be float, got string/);
    assert.throws(() => predict(m, [{ x: Number.POSITIVE_INFINITY, kind: 'a' }]), /only finite numbers/);
  });
});
