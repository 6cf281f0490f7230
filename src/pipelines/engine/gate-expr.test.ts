import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateGate, parseGate } from './gate-expr.js';

const run = (src: string, m: Record<string, number>, champion?: Record<string, number>) => evaluateGate(parseGate(src), m, champion, src);

describe('gate conditions', () => {
  it('follows arithmetic and boolean precedence', () => {
    // 2 + 3 * 4 = 14, not 20; (2 + 3) * 4 = 20.
    assert.equal(run('2 + 3 * 4 == 14', {}).passed, true);
    assert.equal(run('(2 + 3) * 4 == 20', {}).passed, true);
    assert.equal(run('10 - 4 - 3 == 3', {}).passed, true, 'left-associative minus');
    assert.equal(run('8 / 4 / 2 == 1', {}).passed, true, 'left-associative division');
    assert.equal(run('-2 * -3 == 6', {}).passed, true);
    // and binds tighter than or: true or (false and false) = true.
    assert.equal(run('1 < 2 or 1 > 2 and 1 > 3', {}).passed, true);
    assert.equal(run('(1 < 2 or 1 > 2) and 1 > 3', {}).passed, false);
    assert.equal(run('not 1 > 2 and 2 > 1', {}).passed, true);
  });

  it('reads metrics and champion metrics, with the numbers that decided', () => {
    const r = run('rmse <= 80 and rmse <= champion.rmse * 1.02', { rmse: 50 }, { rmse: 49 });
    assert.equal(r.passed, false); // 49 * 1.02 = 49.98 < 50
    assert.equal(run('rmse <= 80 and rmse <= champion.rmse * 1.02', { rmse: 49.9 }, { rmse: 49 }).passed, true);
    assert.deepEqual(r.terms, [{ term: 'rmse', value: 50 }, { term: 'champion.rmse', value: 49 }]);
  });

  it('treats champion comparisons as passing when there is no champion, and says so', () => {
    const r = run('rmse <= 80 and rmse <= champion.rmse * 1.02', { rmse: 50 }, undefined);
    assert.equal(r.passed, true);
    assert.deepEqual(r.terms, [{ term: 'rmse', value: 50 }, { term: 'champion.rmse', value: null }]);
    assert.match(r.notes[0]!, /no champion/);
    assert.equal(run('rmse <= 40 and rmse <= champion.rmse', { rmse: 50 }).passed, false, 'the other terms still count');
  });

  it('refuses bad expressions with a message naming the token', () => {
    assert.throws(() => parseGate('rmse <= 80 && process.exit()'), /'process\.exit' at position 15 is not a metric/);
    assert.throws(() => parseGate('rmse <= ; 1'), /';' at position 9 is not allowed/);
    assert.throws(() => parseGate('rmse <= (80'), /the end at position 12 found where '\)' was expected/);
    assert.throws(() => parseGate('rmse 80'), /'80' at position 6 is unexpected here/);
    assert.throws(() => parseGate('1 < 2 < 3'), /'<' at position 7 chains a comparison/);
    assert.throws(() => parseGate('rmse <= and'), /'and' at position 9 found where a number, a metric or \( was expected/);
    assert.throws(() => parseGate('  '), /gate condition is empty/);
    assert.throws(() => run('mae < 1', { rmse: 1 }), /metric 'mae' is not among the step's metrics \(rmse\)/);
    assert.throws(() => run('rmse + 1', { rmse: 1 }), /is a number, not a decision/);
    assert.throws(() => run('rmse and 1 < 2', { rmse: 1 }), /'and' needs comparisons/);
  });
});
