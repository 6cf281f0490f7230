import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatRef, parseDataRef, parseModelRef, parseRef, refErrors } from './refs.js';

describe('references', () => {
  it('reads every form: name@version, name@v3, name@alias, name@latest, name/version, a bare name', () => {
    assert.deepEqual(parseRef('income@3'), { name: 'income', selector: { kind: 'version', version: 3 } });
    assert.deepEqual(parseRef('income@v3'), { name: 'income', selector: { kind: 'version', version: 3 } });
    assert.deepEqual(parseRef('income/3'), { name: 'income', selector: { kind: 'version', version: 3 } });
    assert.deepEqual(parseRef('income/v3'), { name: 'income', selector: { kind: 'version', version: 3 } });
    assert.deepEqual(parseRef('income@latest'), { name: 'income', selector: { kind: 'latest' } });
    assert.deepEqual(parseRef('income/latest'), { name: 'income', selector: { kind: 'latest' } });
    assert.deepEqual(parseRef('income@champion'), { name: 'income', selector: { kind: 'alias', alias: 'champion' } });
    assert.deepEqual(parseRef('income'), { name: 'income' });
    // A name may hold a slash when an @ follows it.
    assert.deepEqual(parseRef('team/churn@2'), { name: 'team/churn', selector: { kind: 'version', version: 2 } });
    assert.equal(formatRef(parseRef('income/3')), 'income@3');
    // After any other slash the whole is a name: a path, or a name with a slash.
    assert.deepEqual(parseRef('team/churn'), { name: 'team/churn' });
    assert.deepEqual(parseRef('/data/adult.csv'), { name: '/data/adult.csv' });
  });

  it('refuses what is not a reference, saying what was wrong', () => {
    const cases: [string, RegExp][] = [
      ['a@b@c', /: 'a@b@c' is not a reference: use name@version, name@alias or name\/version$/],
      ['@3', /'@3' is not a reference \(the name before @ is missing\)/],
      ['income@', /'income@' is not a reference \(nothing follows the @\)/],
      ['income@0', /'income@0' is not a reference \(a version is a positive number\)/],
      ['income/0', /a version is a positive number/],
      ['/3', /'\/3' is not a reference/],
      ['', /a reference is empty/],
    ];
    for (const [ref, message] of cases) assert.throws(() => parseRef(ref), message, ref);
  });

  it('a model reference needs a version; a dataset reference has no aliases', () => {
    assert.throws(() => parseModelRef('income'), /'income' names a model, not one of its versions: write income@<version>, income@<alias>, income@latest or income\/<version>/);
    assert.deepEqual(parseDataRef('bike'), { name: 'bike', version: undefined });
    assert.deepEqual(parseDataRef('bike@latest'), { name: 'bike', version: undefined });
    assert.deepEqual(parseDataRef('bike/2'), { name: 'bike', version: 2 });
    assert.throws(() => parseDataRef('bike@champion'), /no alias 'champion' on dataset 'bike': dataset versions are named by number \(bike@1, bike\/1\) or bike@latest/);
  });

  it('not-found errors keep the store codes and name what is missing', () => {
    const v = refErrors.noModelVersion('income', 9, [1, 2]);
    assert.equal(v.code, 'TRELLIS_MODEL_VERSION_NOT_FOUND');
    assert.equal(v.message, "no version 9 of model 'income' (versions: 1, 2)");
    const a = refErrors.noAlias('income', 'champ', ['champion']);
    assert.equal(a.code, 'TRELLIS_ALIAS_NOT_FOUND');
    assert.equal(a.message, "no alias 'champ' on model 'income' (aliases: champion)");
    assert.equal(refErrors.noAlias('income', 'champ', []).message, "no alias 'champ' on model 'income' (it has no aliases)");
    assert.equal(refErrors.noModel('income/champion').message, "no model 'income/champion' (a version is written income/<number> or income@<number>, an alias income@champion)");
    assert.equal(refErrors.noDataset('bike').message, "Dataset 'bike' not found");
    assert.equal(refErrors.noDatasetVersion('bike', 4, Array.from({ length: 12 }, (_, i) => i + 1)).message, "no version 4 of dataset 'bike' (versions: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, … (12 in all))");
  });
});
