import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newRequestId } from './ids.js';

describe('request ids', () => {
  it('are UUIDs version 7 whose first 48 bits are the time in milliseconds', () => {
    const before = Date.now();
    const id = newRequestId();
    const after = Date.now();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const ms = parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
    assert.ok(ms >= before && ms <= after, `${ms} in [${before}, ${after}]`);
    assert.equal(newRequestId(Date.UTC(2026, 11, 6)).slice(0, 13), `${Date.UTC(2026, 11, 6).toString(16).padStart(12, '0').slice(0, 8)}-${Date.UTC(2026, 11, 6).toString(16).slice(-4)}`);
  });

  it('sort in the order they were made across milliseconds, and do not repeat', () => {
    const ids = Array.from({ length: 5 }, (_, i) => newRequestId(1_700_000_000_000 + i * 7));
    assert.deepEqual([...ids].sort(), ids);
    const many = new Set(Array.from({ length: 100_000 }, () => newRequestId(1_700_000_000_000)));
    assert.equal(many.size, 100_000);
  });
});
