import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TrellisError } from '../../core/errors.js';
import type { Clause } from '../../store/search-types.js';
import {
  parseExperimentFilter,
  parseExperimentOrderBy,
  parseModelFilter,
  parseModelOrderBy,
  parseModelVersionFilter,
  parseModelVersionOrderBy,
  parseRunFilter,
  parseRunOrderBy,
} from './search-filter.js';

/** Asserts `fn` throws a TrellisError with `code` whose message matches every pattern. */
function rejects(fn: () => unknown, code: string, ...patterns: RegExp[]): TrellisError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof TrellisError, `expected a TrellisError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

const badFilter = (filter: string, ...patterns: RegExp[]) =>
  rejects(() => parseRunFilter(filter), 'TRELLIS_SEARCH_FILTER_INVALID', ...patterns);

const badOrder = (fn: () => unknown, ...patterns: RegExp[]) => rejects(fn, 'TRELLIS_ORDER_BY_INVALID', ...patterns);

const one = (filter: string): Clause => {
  const clauses = parseRunFilter(filter);
  assert.equal(clauses.length, 1);
  const [clause] = clauses;
  assert.ok(clause);
  return clause;
};

describe('parseRunFilter', () => {
  it('returns no clauses for an absent, empty or blank filter', () => {
    assert.deepEqual(parseRunFilter(undefined), []);
    assert.deepEqual(parseRunFilter(''), []);
    assert.deepEqual(parseRunFilter('  \t\n '), []);
  });

  it('parses the spec example', () => {
    assert.deepEqual(parseRunFilter(`metrics.rmse < 1 and params.alpha = '0.5' and tags."my-tag" LIKE 'ab%'`), [
      { kind: 'metric', key: 'rmse', comparator: '<', value: 1 },
      { kind: 'param', key: 'alpha', comparator: '=', value: '0.5' },
      { kind: 'tag', key: 'my-tag', comparator: 'LIKE', value: 'ab%' },
    ]);
  });

  it('maps every prefix to its kind', () => {
    for (const p of ['metric', 'metrics']) assert.equal(one(`${p}.m > 0`).kind, 'metric');
    for (const p of ['param', 'params', 'parameter', 'parameters']) assert.equal(one(`${p}.p = 'v'`).kind, 'param');
    for (const p of ['tag', 'tags']) assert.equal(one(`${p}.t = 'v'`).kind, 'tag');
    for (const p of ['attribute', 'attributes', 'attr', 'run']) {
      assert.deepEqual(one(`${p}.status = 'FINISHED'`), {
        kind: 'attribute', key: 'status', comparator: '=', value: 'FINISHED',
      });
    }
    for (const p of ['dataset', 'datasets']) {
      assert.deepEqual(one(`${p}.digest = 'abc'`), { kind: 'dataset', key: 'digest', comparator: '=', value: 'abc' });
    }
    assert.equal(one(`status = 'RUNNING'`).kind, 'attribute');
  });

  it('canonicalises attribute names and aliases', () => {
    const key = (f: string) => one(f).key;
    for (const a of ['run_id', 'run_name', 'status', 'user_id', 'artifact_uri']) assert.equal(key(`${a} = 'x'`), a);
    for (const a of ['start_time', 'end_time']) assert.equal(key(`${a} > 5`), a);
    assert.equal(key('created > 5'), 'start_time');
    assert.equal(key('Created > 5'), 'start_time');
    assert.equal(key(`attributes.created >= 5`), 'start_time');
    for (const alias of ['run name', 'Run name', 'Run Name']) {
      assert.equal(key(`attributes."${alias}" = 'x'`), 'run_name');
      assert.equal(key(`attributes.\`${alias}\` = 'x'`), 'run_name');
      assert.equal(key(`"${alias}" = 'x'`), 'run_name');
    }
  });

  it('accepts the dataset keys name, digest and context', () => {
    for (const k of ['name', 'digest', 'context']) assert.equal(one(`dataset.${k} = 'x'`).key, k);
  });

  it('reads quoted keys in double quotes and backticks', () => {
    assert.deepEqual(one('metrics."f1 score" >= 0.9'), {
      kind: 'metric', key: 'f1 score', comparator: '>=', value: 0.9,
    });
    assert.deepEqual(one("tags.`mlflow.runName` = 'x'"), {
      kind: 'tag', key: 'mlflow.runName', comparator: '=', value: 'x',
    });
    assert.equal(one(`params."a""b" = 'x'`).key, 'a"b');
  });

  it('keeps dots in unquoted keys after the prefix', () => {
    assert.equal(one(`tags.mlflow.runName = 'x'`).key, 'mlflow.runName');
    assert.equal(one(`tags.mlflow.source.git.commit = 'abc'`).key, 'mlflow.source.git.commit');
    assert.equal(one('metrics.val.loss < 2').key, 'val.loss');
  });

  it('reads strings in either quote style with escapes', () => {
    const value = (v: string) => one(`params.p = ${v}`).value;
    assert.equal(value(`'plain'`), 'plain');
    assert.equal(value(`"double"`), 'double');
    assert.equal(value(`'it\\'s'`), "it's");
    assert.equal(value(`'it''s'`), "it's");
    assert.equal(value(`"say \\"hi\\""`), 'say "hi"');
    assert.equal(value(`"say ""hi"""`), 'say "hi"');
    assert.equal(value(`'back\\\\slash'`), 'back\\slash');
    assert.equal(value(`'100\\%'`), '100\\%', 'other backslashes reach the store for LIKE escaping');
    assert.equal(value(`''`), '');
    assert.equal(value(`'a AND b OR (c)'`), 'a AND b OR (c)');
  });

  it('reads integer, float, negative and exponent numbers', () => {
    const value = (v: string) => one(`metrics.m = ${v}`).value;
    assert.equal(value('3'), 3);
    assert.equal(value('0.25'), 0.25);
    assert.equal(value('.5'), 0.5);
    assert.equal(value('-2'), -2);
    assert.equal(value('-2.5'), -2.5);
    assert.equal(value('1e-3'), 0.001);
    assert.equal(value('2E+2'), 200);
    assert.equal(one('start_time >= 1700000000000').value, 1700000000000);
    assert.equal(one('end_time<-1').value, -1);
  });

  it('accepts every comparator the spec table allows, case-insensitively', () => {
    for (const op of ['=', '!=', '>', '>=', '<', '<=']) {
      assert.equal(one(`metrics.m ${op} 1`).comparator, op);
      assert.equal(one(`end_time ${op} 1`).comparator, op);
    }
    for (const [written, op] of [['=', '='], ['!=', '!='], ['like', 'LIKE'], ['Ilike', 'ILIKE']]) {
      assert.equal(one(`params.p ${written} 'x'`).comparator, op);
      assert.equal(one(`tags.t ${written} 'x'`).comparator, op);
      assert.equal(one(`user_id ${written} 'x'`).comparator, op);
      assert.equal(one(`dataset.name ${written} 'x'`).comparator, op);
    }
  });

  it('reads IN and NOT IN lists for run_id and dataset keys', () => {
    assert.deepEqual(parseRunFilter("run_id IN ('a','b')"), [
      { kind: 'attribute', key: 'run_id', comparator: 'IN', value: ['a', 'b'] },
    ]);
    assert.deepEqual(one(`attributes.run_id not in ( "a" , 'b''c' )`), {
      kind: 'attribute', key: 'run_id', comparator: 'NOT IN', value: ['a', "b'c"],
    });
    assert.deepEqual(one(`datasets.context in ('train')`).value, ['train']);
    assert.equal(one(`dataset.name NOT IN ('x', 'y')`).comparator, 'NOT IN');
  });

  it('treats AND case-insensitively and ignores extra whitespace', () => {
    const clauses = parseRunFilter(`  metrics.a>1 AND metrics.b<2 and metrics.c=3\tAnD\nmetrics.d != 4  `);
    assert.deepEqual(clauses.map((c) => [c.key, c.comparator, c.value]), [
      ['a', '>', 1], ['b', '<', 2], ['c', '=', 3], ['d', '!=', 4],
    ]);
  });

  it('does not mistake keywords inside keys or values', () => {
    assert.deepEqual(parseRunFilter(`tags.brand = 'android' AND params.order = 'OR'`), [
      { kind: 'tag', key: 'brand', comparator: '=', value: 'android' },
      { kind: 'param', key: 'order', comparator: '=', value: 'OR' },
    ]);
  });

  describe('errors', () => {
    it('rejects OR', () => {
      const e = badFilter('metrics.a > 1 OR metrics.b > 2', /'OR' at character 15/, /OR is not supported/);
      assert.equal(e.params.filter, 'metrics.a > 1 OR metrics.b > 2');
      badFilter('or metrics.a > 1', /'or' at character 1/, /OR is not supported/);
    });

    it('rejects parentheses for grouping', () => {
      badFilter("(metrics.a > 1 AND params.b = 'x')", /parentheses/, /'\(' at character 1/);
      badFilter("metrics.a > 1 AND (params.b = 'x')", /parentheses/, /character 19/);
      badFilter('metrics.a > 1)', /parentheses/, /'\)' at character 14/);
    });

    it('rejects a trailing AND', () => {
      badFilter('metrics.a > 1 AND', /trailing 'AND' at character 15/);
      badFilter('metrics.a > 1 and   ', /trailing 'AND' at character 15/);
    });

    it('rejects an empty clause', () => {
      badFilter("metrics.a > 1 AND AND params.b = 'x'", /empty clause/, /'AND' at character 19/);
      badFilter('AND metrics.a > 1', /empty clause/, /'AND' at character 1/);
    });

    it('rejects an unquoted string value', () => {
      badFilter('params.p = abc', /quoted string/, /'abc' at character 12/);
      badFilter('tags.t = 5', /quoted string/, /'5' at character 10/);
      badFilter('status = FINISHED', /quoted string/, /'FINISHED' at character 10/);
      badFilter('dataset.name = `x`', /quoted string/, /character 16/);
    });

    it('rejects a quoted value for a metric or a numeric attribute', () => {
      badFilter("metrics.m = '1'", /metric 'm' needs a numeric value/, /character 13/);
      badFilter('start_time > "5"', /attribute 'start_time' needs a numeric value/, /character 14/);
      badFilter('metrics.m = abc', /numeric value/, /'abc' at character 13/);
      badFilter('metrics.m = 1abc', /malformed number/, /'1abc' at character 13/);
      badFilter('metrics.m = 1e999', /out of range/);
    });

    it('rejects a comparator the kind does not allow', () => {
      badFilter("params.x > '1'", /comparator '>' at character 10 is not allowed for param 'x'/);
      badFilter('metrics.m LIKE 1', /comparator 'LIKE' at character 11 is not allowed for metric 'm'/);
      badFilter("status IN ('A')", /'IN' at character 8 is not allowed for attribute 'status'/);
      badFilter('created ilike 5', /'ILIKE' .* not allowed for attribute 'start_time'/);
      badFilter("tags.x NOT LIKE 'a'", /'NOT' at character 8 must be followed by IN/, /'LIKE' at character 12/);
      badFilter('metrics.m == 1', /unknown comparator '==' at character 11/);
      badFilter('metrics.m <> 1', /unknown comparator '<>'/);
      badFilter("params.p is 'x'", /unknown comparator 'is' at character 10/);
    });

    it('rejects IN on a tag and lists anywhere but IN', () => {
      badFilter("tags.t IN ('a', 'b')", /comparator 'IN' at character 8 is not allowed for tag 't'/);
      badFilter("params.p NOT IN ('a')", /'NOT IN' .* not allowed for param 'p'/);
      badFilter("run_id = ('a')", /takes a single value/, /'\(' at character 10/);
      badFilter("run_id IN 'a'", /needs a list/, /"'a'" at character 11/);
      badFilter('run_id IN ()', /empty list at character 11/);
      badFilter("run_id IN ('a' 'b')", /expected ',' or '\)'/, /"'b'" at character 16/);
      badFilter("run_id IN ('a', b)", /quoted string in the list/, /'b' at character 17/);
      badFilter("run_id IN ('a'", /unterminated list starting at character 11/);
    });

    it('rejects unknown attributes, dataset keys and prefixes', () => {
      badFilter("foo = 'x'", /unknown attribute 'foo' at character 1/, /run_id, run_name/);
      badFilter('experiment_id = 1', /unknown attribute 'experiment_id'/);
      badFilter("attributes.run_name.x = 'a'", /unknown attribute 'run_name.x' at character 1/);
      badFilter("dataset.profile = 'x'", /unknown dataset key 'profile'/, /name, digest, context/);
      badFilter("bogus.x = 'a'", /unknown prefix 'bogus.' at character 1/);
      badFilter("Tags.x = 'a'", /unknown prefix 'Tags.'/);
    });

    it('rejects unterminated quotes', () => {
      badFilter("tags.t = 'abc", /unterminated string/, /character 10/);
      badFilter(`tags.t = "abc`, /unterminated string/, /character 10/);
      badFilter("tags.t = 'it\\'", /unterminated string/);
      badFilter(`tags."abc = 'x'`, /unterminated key/, /character 6/);
      badFilter('metrics.`abc > 1', /unterminated key/);
    });

    it('rejects a missing comparator, value or key', () => {
      badFilter('metrics.m', /missing comparator after 'metrics.m' at character 10/);
      badFilter('metrics.m >', /missing value after '>' at character 11/);
      badFilter("tags. = 'x'", /missing key after 'tags.' at character 1/);
      badFilter(`tags."" = 'x'`, /empty key/);
      badFilter(`metrics.train/loss < 1`, /'\/' at character 14/, /quote keys/);
      badFilter(`tags.'x' = 'y'`, /single quotes/, /character 6/);
      badFilter(`'x' = 'y'`, /expected a key/, /character 1/);
      badFilter('5 = 5', /expected a key, found '5' at character 1/);
      badFilter(`metrics.a > 1 metrics.b > 2`, /expected AND/, /'metrics.b' at character 15/);
    });

    it('rejects NOT outside NOT IN', () => {
      badFilter("NOT tags.x = 'y'", /NOT is only supported as NOT IN/, /character 1/);
    });
  });
});

describe('parseRunOrderBy', () => {
  it('returns no keys when absent or empty', () => {
    assert.deepEqual(parseRunOrderBy(undefined), []);
    assert.deepEqual(parseRunOrderBy([]), []);
  });

  it('parses the spec example with the default and explicit directions', () => {
    assert.deepEqual(parseRunOrderBy(['metrics.rmse', 'params.alpha DESC', 'attributes.start_time DESC']), [
      { kind: 'metric', key: 'rmse', ascending: true },
      { kind: 'param', key: 'alpha', ascending: false },
      { kind: 'attribute', key: 'start_time', ascending: false },
    ]);
  });

  it('reads directions case-insensitively and keys like filters do', () => {
    assert.deepEqual(parseRunOrderBy([
      'tags.`mlflow.runName` asc', 'tags.mlflow.user Desc', 'metrics."f1 score"', 'created desc',
      'attributes."Run Name"', 'run_id ASC', '  end_time   DESC  ',
    ]), [
      { kind: 'tag', key: 'mlflow.runName', ascending: true },
      { kind: 'tag', key: 'mlflow.user', ascending: false },
      { kind: 'metric', key: 'f1 score', ascending: true },
      { kind: 'attribute', key: 'start_time', ascending: false },
      { kind: 'attribute', key: 'run_name', ascending: true },
      { kind: 'attribute', key: 'run_id', ascending: true },
      { kind: 'attribute', key: 'end_time', ascending: false },
    ]);
  });

  it('rejects bad clauses, naming the clause', () => {
    const e = badOrder(() => parseRunOrderBy(['metrics.rmse', 'experiment_id']), /'experiment_id'/,
      /unknown attribute 'experiment_id'/);
    assert.equal(e.params.clause, 'experiment_id');
    badOrder(() => parseRunOrderBy(['metrics.rmse DOWN']), /expected ASC or DESC/, /'DOWN' at character 14/);
    badOrder(() => parseRunOrderBy(['metrics.rmse DESC, params.a']), /unexpected ',' at character 18/);
    badOrder(() => parseRunOrderBy(['']), /empty clause/);
    badOrder(() => parseRunOrderBy(['dataset.name']), /dataset keys cannot be used in order_by/);
    badOrder(() => parseRunOrderBy(['bogus.x']), /unknown prefix 'bogus.'/);
    badOrder(() => parseRunOrderBy(['tags."x']), /unterminated key/);
    badOrder(() => parseRunOrderBy([5 as unknown as string]), /expected a string/);
  });
});

describe('parseExperimentFilter / parseExperimentOrderBy', () => {
  it('parses the spec example', () => {
    assert.deepEqual(parseExperimentFilter("name LIKE 'test-%' AND tags.team = 'x'"), [
      { kind: 'attribute', key: 'name', comparator: 'LIKE', value: 'test-%' },
      { kind: 'tag', key: 'team', comparator: '=', value: 'x' },
    ]);
  });

  it('accepts bare and prefixed attributes with their value types', () => {
    assert.deepEqual(parseExperimentFilter(
      "attributes.name ILIKE '%A%' and creation_time >= 10 AND attributes.last_update_time < 2e3",
    ), [
      { kind: 'attribute', key: 'name', comparator: 'ILIKE', value: '%A%' },
      { kind: 'attribute', key: 'creation_time', comparator: '>=', value: 10 },
      { kind: 'attribute', key: 'last_update_time', comparator: '<', value: 2000 },
    ]);
    assert.equal(parseExperimentFilter("tags.`a b` != 'c'")[0]?.key, 'a b');
  });

  it('rejects what experiments do not support', () => {
    const bad = (f: string, ...p: RegExp[]) =>
      rejects(() => parseExperimentFilter(f), 'TRELLIS_SEARCH_FILTER_INVALID', ...p);
    bad('metrics.m > 1', /prefix 'metrics.' at character 1 is not supported when searching experiments/);
    bad("run.name = 'x'", /prefix 'run.'/);
    bad("experiment_id = '1'", /unknown attribute 'experiment_id'/, /name, creation_time, last_update_time/);
    bad('name > 1', /'>' .* not allowed for attribute 'name'/);
    bad("creation_time = '1'", /numeric value/);
    bad("name IN ('a')", /'IN' .* not allowed/);
    bad("name = 'a' OR name = 'b'", /OR is not supported/);
  });

  it('orders by the four experiment keys', () => {
    assert.deepEqual(parseExperimentOrderBy([
      'name', 'experiment_id DESC', 'attributes.creation_time asc', 'last_update_time DESC',
    ]), [
      { kind: 'attribute', key: 'name', ascending: true },
      { kind: 'attribute', key: 'experiment_id', ascending: false },
      { kind: 'attribute', key: 'creation_time', ascending: true },
      { kind: 'attribute', key: 'last_update_time', ascending: false },
    ]);
    badOrder(() => parseExperimentOrderBy(['tags.team']), /tags cannot be used in order_by/);
    badOrder(() => parseExperimentOrderBy(['start_time']), /unknown attribute 'start_time'/);
  });
});

describe('parseModelFilter / parseModelOrderBy', () => {
  it('filters on name and tags', () => {
    assert.deepEqual(parseModelFilter("name ILIKE '%rm%00%' AND tags.stage = 'prod'"), [
      { kind: 'attribute', key: 'name', comparator: 'ILIKE', value: '%rm%00%' },
      { kind: 'tag', key: 'stage', comparator: '=', value: 'prod' },
    ]);
    assert.equal(parseModelFilter("name != 'x'")[0]?.comparator, '!=');
    assert.equal(parseModelFilter("attributes.name LIKE '%7'")[0]?.key, 'name');
  });

  it('rejects other keys and comparators', () => {
    const bad = (f: string, ...p: RegExp[]) =>
      rejects(() => parseModelFilter(f), 'TRELLIS_SEARCH_FILTER_INVALID', ...p);
    bad("run_id = 'x'", /unknown attribute 'run_id'/, /registered models/);
    bad("name IN ('a')", /'IN' .* not allowed for attribute 'name'/);
    bad('params.p = 1', /prefix 'params.'/);
  });

  it('orders by name and timestamps, with timestamp as a legacy alias', () => {
    const keys = ['name', 'creation_timestamp DESC', 'last_updated_timestamp', 'timestamp desc'];
    assert.deepEqual(parseModelOrderBy(keys), [
      { kind: 'attribute', key: 'name', ascending: true },
      { kind: 'attribute', key: 'creation_timestamp', ascending: false },
      { kind: 'attribute', key: 'last_updated_timestamp', ascending: true },
      { kind: 'attribute', key: 'last_updated_timestamp', ascending: false },
    ]);
    badOrder(() => parseModelOrderBy(['version_number']), /unknown attribute 'version_number'/);
  });
});

describe('parseModelVersionFilter / parseModelVersionOrderBy', () => {
  it('parses the spec example and the other attributes', () => {
    assert.deepEqual(parseModelVersionFilter("run_id IN ('a','b')"), [
      { kind: 'attribute', key: 'run_id', comparator: 'IN', value: ['a', 'b'] },
    ]);
    assert.deepEqual(parseModelVersionFilter(
      "name = 'm' AND version_number >= 2 AND source_path LIKE 's3://%' AND tags.`k.v` = 'x'",
    ), [
      { kind: 'attribute', key: 'name', comparator: '=', value: 'm' },
      { kind: 'attribute', key: 'version_number', comparator: '>=', value: 2 },
      { kind: 'attribute', key: 'source_path', comparator: 'LIKE', value: 's3://%' },
      { kind: 'tag', key: 'k.v', comparator: '=', value: 'x' },
    ]);
    assert.deepEqual(parseModelVersionFilter("source_path in ('a')")[0]?.value, ['a']);
  });

  it('rejects what model versions do not support', () => {
    const bad = (f: string, ...p: RegExp[]) =>
      rejects(() => parseModelVersionFilter(f), 'TRELLIS_SEARCH_FILTER_INVALID', ...p);
    bad("run_id NOT IN ('a')", /'NOT IN' .* not allowed for attribute 'run_id'/);
    bad("version_number = '1'", /numeric value/);
    bad("run_id > 'a'", /'>' .* not allowed/);
    bad("status = 'READY'", /unknown attribute 'status'/);
    bad("tags.t IN ('a')", /'IN' .* not allowed for tag 't'/);
  });

  it('orders by the four version keys', () => {
    assert.deepEqual(parseModelVersionOrderBy([
      'name', 'version_number DESC', 'creation_timestamp', 'last_updated_timestamp DESC',
    ]).map((k) => [k.key, k.ascending]), [
      ['name', true], ['version_number', false], ['creation_timestamp', true], ['last_updated_timestamp', false],
    ]);
    badOrder(() => parseModelVersionOrderBy(['timestamp']), /unknown attribute 'timestamp'/);
  });
});
