import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isTrellisError } from '../core/errors.js';
import { checkDatasetName, checkName, excerpt } from './limits.js';

const refused = (f: () => unknown, code: 'TRELLIS_INVALID_PARAMETER' | 'TRELLIS_MISSING_PARAMETER', includes?: string): void => {
  assert.throws(f, (e: unknown) => isTrellisError(e, code) && (!includes || e.message.includes(includes)));
};

describe('excerpt', () => {
  it('quotes at most 100 characters, then an ellipsis', () => {
    assert.equal(excerpt('a'.repeat(100)), 'a'.repeat(100));
    assert.equal(excerpt('a'.repeat(1_500_000)), `${'a'.repeat(100)}…`);
    assert.equal(excerpt('abcdef', 3), 'abc…');
  });

  it('escapes control characters and line separators, so a quoted value cannot forge a log line', () => {
    assert.equal(excerpt('a\nb\u0000c\u2028'), 'a\\u000ab\\u0000c\\u2028');
  });

  it('shows other values as JSON, and survives values JSON cannot write', () => {
    assert.equal(excerpt({ a: 1 }), '{"a":1}');
    assert.equal(excerpt(undefined), 'undefined');
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    assert.equal(excerpt(deep), '[…]');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.equal(excerpt(cyclic), '[object Object]');
  });
});

describe('checkName', () => {
  it('normalises to NFC and trims', () => {
    assert.equal(checkName('Experiment', '  Cafe\u0301 '), 'Caf\u00e9');
  });

  it('refuses control, zero-width and bidirectional characters, dot names, and / unless allowed', () => {
    for (const c of ['\u0000', '\u001f', '\u007f', '\u0085', '\u200b', '\u200c', '\u200d', '\u200e', '\u200f', '\u202a', '\u202e', '\u2060', '\u2066', '\u2069', '\ufeff']) {
      refused(() => checkName('Experiment', `a${c}b`, { slash: true }), 'TRELLIS_INVALID_PARAMETER', "'name'");
    }
    refused(() => checkName('Experiment', '.'), 'TRELLIS_INVALID_PARAMETER');
    refused(() => checkName('Experiment', ' .. '), 'TRELLIS_INVALID_PARAMETER');
    refused(() => checkName('Dataset', 'a/b'), 'TRELLIS_INVALID_PARAMETER', "'/'");
    assert.equal(checkName('Experiment', '/Shared/x', { slash: true }), '/Shared/x');
    refused(() => checkName('Experiment', 'x'.repeat(257), { param: 'new_name' }), 'TRELLIS_INVALID_PARAMETER', "'new_name'");
    refused(() => checkName('Experiment', 'x'.repeat(10_000_000)), 'TRELLIS_INVALID_PARAMETER', '256');
    refused(() => checkName('Experiment', '   '), 'TRELLIS_MISSING_PARAMETER');
  });

  it('keeps dataset names to letters, digits, _, - and .', () => {
    assert.equal(checkDatasetName(' bikes.v2 '), 'bikes.v2');
    for (const bad of ['-x', '.x', 'a b', 'ü', 'a/b']) refused(() => checkDatasetName(bad), 'TRELLIS_INVALID_PARAMETER');
  });
});
