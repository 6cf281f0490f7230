import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERRORS, TrellisError, formatMessage, isTrellisError } from './errors.js';
import { renderErrorsDoc } from './errors-doc.js';

describe('error registry', () => {
  it('matches docs/errors.md row for row (regenerate with scripts/gen-errors-doc.ts)', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    assert.equal(doc, renderErrorsDoc());
    for (const code of Object.keys(ERRORS)) assert.ok(doc.includes(`| \`${code}\` |`), code);
  });

  it('names every code TRELLIS_<AREA>_<WHAT> and maps it to a known MLflow code and status', () => {
    const mlflowStatus: Record<string, number> = {
      INVALID_PARAMETER_VALUE: 400, RESOURCE_ALREADY_EXISTS: 400, RESOURCE_DOES_NOT_EXIST: 404, ENDPOINT_NOT_FOUND: 404,
      TEMPORARILY_UNAVAILABLE: 503, INTERNAL_ERROR: 500, INVALID_STATE: 500, DATA_LOSS: 500, NOT_IMPLEMENTED: 501, PERMISSION_DENIED: 403,
      UNAUTHENTICATED: 401, REQUEST_LIMIT_EXCEEDED: 429, RESOURCE_CONFLICT: 409,
    };
    for (const [code, s] of Object.entries(ERRORS)) {
      assert.match(code, /^TRELLIS_[A-Z]+(_[A-Z0-9]+)*$/);
      assert.equal(mlflowStatus[s.mlflow], s.http, `${code}: ${s.mlflow} is HTTP ${mlflowStatus[s.mlflow]} in MLflow`);
      assert.ok(s.grpc >= 0 && s.grpc <= 16, code);
      assert.ok(s.solve.length > 10, code);
    }
  });

  it('fills message templates and survives a trip through JSON', () => {
    const e = new TrellisError('TRELLIS_RUN_NOT_FOUND', { id: 'abc' });
    assert.equal(e.message, 'Run with id=abc not found');
    assert.equal(e.httpStatus, 404);
    assert.equal(e.mlflowCode, 'RESOURCE_DOES_NOT_EXIST');
    const back = TrellisError.fromJSON(JSON.parse(JSON.stringify(e)));
    assert.equal(back.code, 'TRELLIS_RUN_NOT_FOUND');
    assert.equal(back.message, e.message);
    assert.equal(formatMessage('{a} and {b}', { a: 1 }), '1 and {b}');
    assert.equal(new TrellisError('TRELLIS_STORE_UNAVAILABLE', { detail: 'x' }).retryable, true);
  });

  it('tells errors apart by class and code, not by the shape of an object', () => {
    const e = new TrellisError('TRELLIS_RUN_NOT_FOUND', { id: 'abc' });
    assert.equal(isTrellisError(e), true);
    assert.equal(isTrellisError(e, 'TRELLIS_RUN_NOT_FOUND'), true);
    assert.equal(isTrellisError(e, 'TRELLIS_EXPERIMENT_NOT_FOUND', 'TRELLIS_RUN_NOT_FOUND'), true);
    assert.equal(isTrellisError(e, 'TRELLIS_EXPERIMENT_NOT_FOUND'), false);
    assert.equal(isTrellisError(TrellisError.fromJSON(e.toJSON()), 'TRELLIS_RUN_NOT_FOUND'), true);
    const lookalike = Object.assign(new Error(e.message), { code: 'TRELLIS_RUN_NOT_FOUND' });
    assert.equal(isTrellisError(lookalike), false);
    assert.equal(isTrellisError(lookalike, 'TRELLIS_RUN_NOT_FOUND'), false);
    assert.equal(isTrellisError(undefined), false);
    // The code narrows the type: only the listed codes remain possible.
    const caught: unknown = e;
    if (isTrellisError(caught, 'TRELLIS_RUN_NOT_FOUND', 'TRELLIS_METRIC_NOT_FOUND')) {
      const code: 'TRELLIS_RUN_NOT_FOUND' | 'TRELLIS_METRIC_NOT_FOUND' = caught.code;
      assert.equal(code, 'TRELLIS_RUN_NOT_FOUND');
    }
  });
});
