/**
 * `trellis data add <name> --from <uri> [--query …]` and `trellis data show` as a user runs them,
 * against the real PostgreSQL (127.0.0.1:5432) with a table made here.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { runCli } from '../test-helpers/run-cli.js';

const PG = process.env.TRELLIS_TEST_PG_DB ?? 'postgres://postgres@127.0.0.1:5432/test';

describe('trellis data add --from', () => {
  const table = `trellis_cli_${randomBytes(5).toString('hex')}`;
  let admin: pg.Client;
  let dir: string;
  let g: string[];
  before(async () => {
    admin = new pg.Client({ connectionString: PG });
    await admin.connect();
    await admin.query(`CREATE TABLE ${table} (id integer, city text, temp double precision)`);
    await admin.query(`INSERT INTO ${table} VALUES (1, 'Oslo', -3.5), (2, 'Lima', 19.25), (3, 'Pune', 31)`);
    dir = await mkdtemp(join(tmpdir(), 'trellis-cli-sources-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'artifacts')}`];
  });
  after(async () => {
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  });

  it('adds the rows of a query; show prints the source without the password, the query and the digest', async () => {
    const query = `select * from ${table} order by id`;
    const withPassword = PG.replace('postgres://postgres@', 'postgres://postgres:hunter2@');
    const r = runCli([...g, 'data', 'add', 'weather', '--from', withPassword, '--query', query]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /added weather@1: 3 rows × 3 columns/);
    assert.match(r.stderr, /read 3 rows/);
    assert.ok(!`${r.stdout}${r.stderr}`.includes('hunter2'));

    const show = runCli([...g, 'data', 'show', 'weather@1']);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`from ${PG.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, by tester`));
    assert.ok(show.stdout.includes(`query: ${query}`), show.stdout);
    const json = JSON.parse(runCli([...g, '--json', 'data', 'show', 'weather@1']).stdout) as { sha256: string; source: string; lineage: Record<string, string> };
    assert.ok(show.stdout.includes(`snapshot sha256 ${json.sha256}`));
    assert.equal(json.source, PG);
    assert.equal(json.lineage.query, query);
    assert.ok(!JSON.stringify(json).includes('hunter2'));

    // The table changes: the next add is version 2, and version 1 keeps the rows it had.
    await admin.query(`UPDATE ${table} SET temp = 0 WHERE id = 1`);
    const again = JSON.parse(runCli([...g, '--json', 'data', 'add', 'weather', '--from', PG, '--query', query]).stdout) as { version: number; sha256: string };
    assert.equal(again.version, 2);
    assert.notEqual(again.sha256, json.sha256);
    const p1 = JSON.parse(runCli([...g, '--json', 'data', 'profile', 'weather@1']).stdout) as { columns: { name: string; numeric?: { min: number } }[] };
    assert.equal(p1.columns.find((c) => c.name === 'temp')?.numeric?.min, -3.5);
  });

  it('takes a URI in the file argument too, and still adds a local file', async () => {
    const r = runCli([...g, 'data', 'add', 'weather2', PG, '--query', `select city from ${table}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /added weather2@1: 3 rows × 1 columns/);
    const f = join(dir, 'local.csv');
    await writeFile(f, 'a,b\n1,2\n');
    const local = runCli([...g, 'data', 'add', 'local', f]);
    assert.equal(local.code, 0, local.stderr);
    assert.match(local.stdout, /added local@1: 1 rows × 2 columns/);
  });

  it('says what is wrong', () => {
    const fails = (args: string[], ...parts: (string | RegExp)[]) => {
      const r = runCli([...g, 'data', 'add', 'bad', ...args]);
      assert.notEqual(r.code, 0);
      for (const p of parts) assert.match(r.stderr, typeof p === 'string' ? new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : p);
    };
    fails(['--from', PG], 'is a database', '--query');
    fails(['--from', 'ftp://files.example/x.csv'], "Unknown data source scheme 'ftp://'");
    fails([join(dir, 'local.csv'), '--query', 'select 1'], '--query applies only to a SQL source');
    fails(['--from', 'https://example.org/x.csv', '--query', 'select 1'], 'A query applies only to a SQL source');
    fails(['x.csv', '--from', PG], 'not both');
    fails([], 'Give the data');
    fails(['--from', 'postgres://postgres:pw@127.0.0.1:1/test', '--query', 'select 1'], '127.0.0.1:1: connection refused', 'TRELLIS_DATA_SOURCE_UNREACHABLE');
    fails(['--from', PG, '--query', 'select * from trellis_no_such_table'], 'relation "trellis_no_such_table" does not exist');
    fails(['--from', PG, '--query', `select * from ${table} where id < 0`], 'the query returned no rows');
    fails(['--from', 'https://127.0.0.1:9/x.csv'], '127.0.0.1 is a loopback address', 'TRELLIS_EGRESS_ALLOW=127.0.0.1');
    assert.match(runCli([...g, 'data', 'list']).stdout, /^(?![\s\S]*\bbad\b)/);
  });
});
