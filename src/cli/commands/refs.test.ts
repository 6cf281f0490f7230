import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../test-helpers/run-cli.js';

const ADULT_HEAD = fileURLToPath(new URL('../../data/readers/fixtures/adult_train_head200.csv', import.meta.url));

/** Every command that takes a model or a dataset version reads name@version, name@v3, name@alias, name@latest and name/version. */
describe('one reference syntax on every command', () => {
  let dir: string;
  let g: string[];
  const cli = (...args: string[]) => {
    const r = runCli([...g, ...args]);
    assert.equal(r.code, 0, `${args.join(' ')}\n${r.stderr}`);
    return r;
  };
  const json = <T>(...args: string[]): T => JSON.parse(cli('--json', ...args).stdout) as T;
  const fails = (args: string[], message: RegExp) => {
    const r = runCli([...g, ...args]);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-refs-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    cli('data', 'add', 'adult', ADULT_HEAD);
    // A second version: the first 120 rows.
    const second = join(dir, 'adult120.csv');
    writeFileSync(second, `${readFileSync(ADULT_HEAD, 'utf8').trim().split('\n').slice(0, 121).join('\n')}\n`);
    cli('data', 'add', 'adult', second);
    cli('train', '--data', 'adult@1', '--target', 'income', '--register', 'income');
    cli('train', '--data', 'adult@2', '--target', 'income', '--register', 'income');
    cli('models', 'alias', 'income', 'champion', '1');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('models show: a name, or a model with the version a reference names selected', () => {
    for (const [ref, version] of [['income@1', '1'], ['income@v1', '1'], ['income/1', '1'], ['income@champion', '1'], ['income@latest', '2'], ['income/2', '2']] as const) {
      const m = json<{ name: string; selected: { version: string } }>('models', 'show', ref);
      assert.equal(m.name, 'income', ref);
      assert.equal(m.selected.version, version, ref);
      const text = cli('models', 'show', ref).stdout;
      assert.match(text, new RegExp(`^selected: income version ${version} \\(${ref.replace('/', '\\/')}\\)$`, 'm'), ref);
      assert.match(text, new RegExp(`^\\* ${version}\\s+None`, 'm'), ref);
    }
    const bare = json<{ name: string; selected?: unknown }>('models', 'show', 'income');
    assert.equal(bare.selected, undefined);
    assert.doesNotMatch(cli('models', 'show', 'income').stdout, /selected:/);
  });

  it('models versions, alias, stage and history take references', () => {
    assert.match(cli('models', 'versions', 'income@champion').stdout, /^\* 1\s+None\s+@champion/m);
    assert.match(cli('models', 'versions', 'income/2').stdout, /^\* 2\s/m);
    // alias: the version from the reference, or after the name as a number, v-number, latest, alias or reference.
    assert.match(cli('models', 'alias', 'income@2', 'challenger').stdout, /^income@challenger → version 2$/m);
    assert.match(cli('models', 'alias', 'income', 'challenger').stdout, /^income@challenger → version 2$/m);
    assert.match(cli('models', 'alias', 'income', 'best', 'champion').stdout, /^income@best → version 1$/m);
    assert.match(cli('models', 'alias', 'income', 'best', 'latest').stdout, /^income@best → version 2$/m);
    assert.match(cli('models', 'alias', 'income', 'best', 'income/1').stdout, /^income@best → version 1$/m);
    assert.match(cli('models', 'alias', 'income/v2', 'best').stdout, /^income@best → version 2$/m);
    // stage: `<model> <version> <stage>` or `<reference> <stage>`.
    assert.match(cli('models', 'stage', 'income@champion', 'Staging').stdout, /^income version 1 is now in Staging$/m);
    assert.match(cli('models', 'stage', 'income', 'v2', 'Production').stdout, /^income version 2 is now in Production$/m);
    assert.match(cli('models', 'stage', 'income/2', 'Archived').stdout, /^income version 2 is now in Archived$/m);
    // history of one version.
    const all = json<{ version: string }[]>('models', 'history', 'income');
    const one = json<{ version: string; label: string }[]>('models', 'history', 'income@champion');
    assert.ok(all.some((iv) => iv.version === '2'));
    assert.ok(one.length > 0 && one.every((iv) => iv.version === '1'));
    assert.ok(one.some((iv) => iv.label === 'champion') && one.some((iv) => iv.label === 'Staging'));
  });

  it('names what is wrong with a model reference', () => {
    fails(['models', 'show', 'income@9'], /no version 9 of model 'income' \(versions: 1, 2\)/);
    fails(['models', 'show', 'income@champ'], /no alias 'champ' on model 'income' \(aliases: best, challenger, champion\)/);
    fails(['models', 'show', 'a@b@c'], /'a@b@c' is not a reference: use name@version, name@alias or name\/version/);
    fails(['models', 'show', 'nope@1'], /no model 'nope'/);
    fails(['models', 'show', 'nope'], /no model 'nope'/);
    fails(['models', 'versions', 'income/champion'], /no model 'income\/champion' \(a version is written income\/<number> or income@<number>, an alias income@champion\)/);
    fails(['models', 'alias', 'income', 'x', '9'], /no version 9 of model 'income'/);
    fails(['models', 'alias', 'income', 'nothing'], /no alias 'nothing' on model 'income'/);
    fails(['models', 'alias', 'income', 'x', 'other@1'], /'other@1' is a version of model 'other', not of 'income'/);
    fails(['models', 'alias', 'income@1', 'x', '2'], /'income@1' is version 1 but '2' is version 2: give the version once/);
    fails(['models', 'stage', 'income', 'Production'], /'income' names a model, not one of its versions/);
    fails(['models', 'history', 'income@0'], /'income@0' is not a reference \(a version is a positive number\)/);
    fails(['export', 'onnx', 'income@9', join(dir, 'm.onnx')], /no version 9 of model 'income'/);
  });

  it('data show, schema, versions, diff, profile, validate --against and skew --against take every dataset form', () => {
    for (const ref of ['adult@1', 'adult@v1', 'adult/1']) {
      assert.equal(json<{ version: number }>('data', 'show', ref).version, 1, ref);
      const schema = cli('data', 'schema', ref);
      assert.match(schema.stderr, /\(the schema inferred for adult@1\)/, ref);
      assert.equal(JSON.parse(schema.stdout).format, 'trellis.schema/v1');
      assert.match(cli('data', 'validate', ADULT_HEAD, '--against', ref).stdout, /against adult@1 /, ref);
      assert.equal(json<{ against: string }>('data', 'skew', ADULT_HEAD, '--against', ref).against, 'adult@1 (inferred schema and profile)', ref);
      assert.equal(json<{ rows: number }>('data', 'profile', ref).rows, 200, ref);
    }
    assert.equal(json<{ version: number }>('data', 'show', 'adult@latest').version, 2);
    assert.equal(json<{ version: number }>('data', 'show', 'adult').version, 2);
    // The schema of each version: v2 has fewer rows, so its inferred ranges differ from v1's.
    const v1 = cli('data', 'schema', 'adult@1').stdout;
    const v2 = cli('data', 'schema', 'adult/2').stdout;
    assert.notEqual(v1, v2);
    assert.equal(v2, `${JSON.stringify(json<{ schema: unknown }>('data', 'show', 'adult@2').schema, null, 2)}\n`);
    assert.equal(json<{ version: number }[]>('data', 'versions', 'adult@1').length, 2);
    const d = json<{ a: { version: number }; b: { version: number } }>('data', 'diff', 'adult/1', 'adult@latest');
    assert.deepEqual([d.a.version, d.b.version], [1, 2]);
  });

  it('a schema document belongs to the dataset, not to one version', () => {
    const file = join(dir, 'schema.json');
    writeFileSync(file, cli('data', 'schema', 'adult@1').stdout);
    fails(['data', 'schema', 'adult@1', file], /A schema document belongs to the dataset 'adult', not to one version .*: write `trellis data schema adult .*schema\.json`/);
    assert.match(cli('data', 'schema', 'adult', file, '--pin').stdout, /stored schema 1 of adult \(pinned/);
    // The version's own schema stays readable, with a word on what validation uses.
    assert.match(cli('data', 'schema', 'adult@2').stderr, /\(the schema inferred for adult@2; validation uses the pinned schema 1 of adult\)/);
  });

  it('names what is wrong with a dataset reference', () => {
    fails(['data', 'show', 'adult@9'], /no version 9 of dataset 'adult' \(versions: 1, 2\)/);
    fails(['data', 'schema', 'adult@champion'], /no alias 'champion' on dataset 'adult': dataset versions are named by number \(adult@1, adult\/1\) or adult@latest/);
    fails(['data', 'show', 'nope@1'], /Dataset 'nope' not found/);
    fails(['data', 'diff', 'adult@1', 'adult@1@2'], /'adult@1@2' is not a reference/);
    fails(['data', 'validate', ADULT_HEAD, '--against', 'adult/9'], /no version 9 of dataset 'adult'/);
    fails(['data', 'skew', ADULT_HEAD, '--against', 'adult@x'], /no alias 'x' on dataset 'adult'/);
    fails(['data', 'versions', 'a@b@c'], /'a@b@c' is not a reference/);
  });

  it('evaluate, explain, fairness and export take dataset versions and every model form', () => {
    for (const [model, data] of [['income@champion', 'adult/1'], ['income/1', 'adult@latest'], ['income@v1', 'adult@v2']] as const) {
      const e = json<{ model: string; rows: number }>('evaluate', '--model', model, '--data', data, '--bootstrap', '0');
      assert.equal(e.model, 'income/1', `${model} ${data}`);
      assert.equal(e.rows, data === 'adult/1' ? 200 : 120);
      const x = json<{ model: string; rowsUsed: number }>('explain', '--model', model, '--data', data, '--repeats', '1');
      assert.equal(x.model, 'income/1');
      assert.equal(x.rowsUsed, data === 'adult/1' ? 200 : 120);
      const f = json<{ model: string; rows: number }>('fairness', '--model', model, '--data', data, '--sensitive', 'sex', '--bootstrap', '0');
      assert.equal(f.rows, data === 'adult/1' ? 200 : 120);
    }
    for (const ref of ['income@champion', 'income/2', 'income@latest']) {
      const out = join(dir, 'model.onnx');
      const r = json<{ model: string; version: string }>('export', 'onnx', ref, out);
      assert.equal(r.version, ref === 'income@champion' ? '1' : '2', ref);
    }
  });

  it('lineage reads the same forms', () => {
    assert.equal(json<{ root: string }>('lineage', 'income@champion').root, 'model-version:income/1');
    assert.equal(json<{ root: string }>('lineage', 'income@v2').root, 'model-version:income/2');
    assert.equal(json<{ root: string }>('lineage', 'adult/2').root, 'dataset-version:adult@2');
    assert.equal(json<{ root: string }>('lineage', 'dataset:adult@latest').root, 'dataset-version:adult@2');
    fails(['lineage', 'income@9'], /no version 9 of model 'income' \(versions: 1, 2\)/);
    fails(['lineage', 'dataset:adult@champion'], /no alias 'champion' on dataset 'adult'/);
    fails(['lineage', 'a@b@c'], /'a@b@c' is not a reference/);
  });
});
