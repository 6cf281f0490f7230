/**
 * Data sources against the real services: PostgreSQL (127.0.0.1:5432) and MariaDB
 * (127.0.0.1:3306) with tables made here, an s3rver started here, and an HTTP server on loopback
 * (refused unless TRELLIS_EGRESS_ALLOW lists it). Each added version is read back and compared
 * with the table; a changed table gives a new version while the old one keeps its rows.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { isTrellisError, type ErrorCode } from '../../core/errors.js';
import { openArtifactStore, openStores } from '../../store/open-stores.js';
import type { Stores } from '../../store/stores.js';
import type { ArtifactStore } from '../../store/artifact-store.js';
import { startS3rver, type S3TestServer } from '../../store/s3/test-helpers/s3-server.js';
import { DatasetService } from '../datasets.js';
import { valueAt, type Table } from '../table.js';
import { addFromSource, redactSource, type SourceProgress } from './index.js';
import { egressPolicy, internalRange, checkEgress } from './egress.js';

const who = { actor: 'tester' };
const PG = process.env.TRELLIS_TEST_PG_DB ?? 'postgres://postgres@127.0.0.1:5432/test';
const MY = process.env.TRELLIS_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306/test';

const rejects = async (p: Promise<unknown>, code: ErrorCode, ...parts: (string | RegExp)[]) => {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isTrellisError(e, code), `expected ${code}, got ${String((e as Error).stack ?? e)}`);
    for (const part of parts) {
      if (typeof part === 'string') assert.ok(e.message.includes(part), `'${e.message}' should mention '${part}'`);
      else assert.match(e.message, part);
    }
    return true;
  });
};

const rowsOf = (t: Table) => Array.from({ length: t.rowCount }, (_, i) => Object.fromEntries(t.columns.map((c) => [c.name, valueAt(c, i)])));

describe('data sources', () => {
  let dir: string;
  let stores: Stores;
  let artifacts: ArtifactStore;
  let data: DatasetService;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-sources-'));
    stores = await openStores(`sqlite:${join(dir, 't.db')}`);
    artifacts = await openArtifactStore(`file:${join(dir, 'artifacts')}`);
    data = new DatasetService(stores.datasets, artifacts);
  });
  after(async () => {
    await stores.close();
    await artifacts.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('PostgreSQL', () => {
    const table = `trellis_src_${randomBytes(5).toString('hex')}`;
    let admin: pg.Client;
    before(async () => {
      admin = new pg.Client({ connectionString: PG });
      await admin.connect();
      await admin.query(`CREATE TABLE ${table} (id integer, name text, score double precision, amount numeric(10,2), big bigint, seen timestamptz, day date, ok boolean)`);
      await admin.query(`INSERT INTO ${table} VALUES
        (1, 'ann', 0.5, 10.25, 1, '2024-01-02 03:04:05+00', '2024-01-02', true),
        (2, 'bob', 1.5, null, 2, '2024-02-03 04:05:06+00', '2024-02-03', false),
        (3, null, 2.5, 3.50, 3, null, null, null),
        (4, 'dee', 3.5, 4.00, 4, '2024-03-04 05:06:07+00', '2024-03-04', true),
        (5, 'eve', 4.5, 5.00, 5, '2024-04-05 06:07:08+00', '2024-04-05', false)`);
    });
    after(async () => {
      await admin.query(`DROP TABLE IF EXISTS ${table}`);
      await admin.end();
    });

    it('adds the rows of a query, in batches, recording the source without its password, the query and the digest', async () => {
      const withPassword = PG.replace('postgres://postgres@', 'postgres://postgres:hunter2@');
      const progress: SourceProgress[] = [];
      const query = `select * from ${table} order by id`;
      const r = await addFromSource(data, 'pgdata', withPassword, { query, onProgress: (p) => progress.push(p), env: { TRELLIS_SOURCE_BATCH_ROWS: '2' } }, who);
      assert.equal(r.created, true);
      const v = r.version;
      assert.equal(v.rows, 5);
      assert.equal(v.columns, 8);
      assert.ok(!v.source.includes('hunter2'), v.source);
      assert.equal(v.source, PG);
      assert.equal(v.lineage?.query, query);
      assert.match(v.sha256, /^[0-9a-f]{64}$/);
      // Three batches of at most two rows, then the last call.
      assert.deepEqual(progress.filter((p) => !p.done).map((p) => p.rows), [2, 4, 5]);
      assert.equal(progress.at(-1)?.done, true);

      const t = await data.load('pgdata@1');
      const types = Object.fromEntries(t.columns.map((c) => [c.name, c.type]));
      assert.deepEqual(types, { id: 'integer', name: 'string', score: 'float', amount: 'float', big: 'integer', seen: 'datetime', day: 'datetime', ok: 'boolean' });
      const rows = rowsOf(t);
      assert.deepEqual(rows.map((x) => x.id), [1, 2, 3, 4, 5]);
      assert.deepEqual(rows.map((x) => x.name), ['ann', 'bob', null, 'dee', 'eve']);
      assert.deepEqual(rows.map((x) => x.amount), [10.25, null, 3.5, 4, 5]);
      assert.deepEqual(rows.map((x) => x.ok), [true, false, null, true, false]);
      assert.equal(new Date(rows[0]!.seen as string | number).toISOString(), '2024-01-02T03:04:05.000Z');
      const schema = v.schema as { columns: { name: string; type: string }[] };
      assert.deepEqual(schema.columns.map((c) => c.name), ['id', 'name', 'score', 'amount', 'big', 'seen', 'day', 'ok']);
    });

    it('gives a new version when the table changed, and the first version still loads the old rows', async () => {
      const query = `select id, name from ${table} order by id`;
      const a = await addFromSource(data, 'pgchange', PG, { query }, who);
      const again = await addFromSource(data, 'pgchange', PG, { query }, who);
      assert.equal(again.created, false, 'the same rows are the same version');
      await admin.query(`INSERT INTO ${table} (id, name) VALUES (6, 'fay')`);
      try {
        const b = await addFromSource(data, 'pgchange', PG, { query }, who);
        assert.equal(b.created, true);
        assert.equal(b.version.version, 2);
        assert.notEqual(b.version.sha256, a.version.sha256);
        assert.equal(b.version.rows, 6);
        assert.equal((await data.load('pgchange@1')).rowCount, 5);
        assert.deepEqual(rowsOf(await data.load('pgchange@1')).map((x) => x.id), [1, 2, 3, 4, 5]);
        assert.equal((await data.load('pgchange@2')).rowCount, 6);
      } finally {
        await admin.query(`DELETE FROM ${table} WHERE id = 6`);
      }
    });

    it('takes the password from PGPASSWORD and never records it', async () => {
      const prev = process.env.PGPASSWORD;
      process.env.PGPASSWORD = 'from-the-env';
      try {
        const r = await addFromSource(data, 'pgenv', PG, { query: `select id from ${table}` }, who);
        assert.ok(!JSON.stringify(r.version).includes('from-the-env'));
      } finally {
        if (prev === undefined) delete process.env.PGPASSWORD;
        else process.env.PGPASSWORD = prev;
      }
    });

    it('says what is wrong: missing or misplaced query, refused connection, SQL error, empty result, duplicate columns', async () => {
      await rejects(addFromSource(data, 'bad', PG, {}, who), 'TRELLIS_INVALID_PARAMETER', 'is a database', '--query');
      await rejects(addFromSource(data, 'bad', PG, { query: '  ' }, who), 'TRELLIS_INVALID_PARAMETER', '--query');
      await rejects(addFromSource(data, 'bad', 'postgres://postgres:pw@127.0.0.1:1/test', { query: 'select 1' }, who),
        'TRELLIS_DATA_SOURCE_UNREACHABLE', '127.0.0.1:1', 'connection refused');
      await rejects(addFromSource(data, 'bad', PG, { query: `select nope from ${table}` }, who), 'TRELLIS_DATA_SOURCE_FAILED', 'column "nope" does not exist');
      await rejects(addFromSource(data, 'bad', PG, { query: `select * from ${table} where id < 0` }, who), 'TRELLIS_DATA_EMPTY', 'no rows');
      await rejects(addFromSource(data, 'bad', PG, { query: `select id, id from ${table}` }, who), 'TRELLIS_DATA_SOURCE_FAILED', "named 'id'");
      await rejects(addFromSource(data, 'bad', 'postgres://postgres:pw@127.0.0.1:5432/trellis_no_such_db', { query: 'select 1' }, who),
        'TRELLIS_DATA_SOURCE_FAILED', 'trellis_no_such_db');
      // A read-only transaction: the query cannot change the table.
      await rejects(addFromSource(data, 'bad', PG, { query: `delete from ${table} returning id` }, who), 'TRELLIS_DATA_SOURCE_FAILED');
      // One statement only: a second one (here ending the read-only transaction first) is refused, not run.
      await rejects(addFromSource(data, 'bad', PG, { query: `select 1; commit; delete from ${table}` }, who), 'TRELLIS_DATA_SOURCE_FAILED', 'multiple commands');
      await rejects(addFromSource(data, 'bad', MY, { query: `select 1; delete from trellis_no_such_table` }, who), 'TRELLIS_DATA_SOURCE_FAILED', 'SQL syntax');
      assert.equal((await admin.query(`select count(*)::int as n from ${table}`)).rows[0].n, 5);
      await assert.rejects(data.get('bad'), (e: unknown) => isTrellisError(e));
    });
  });

  describe('MariaDB / MySQL', () => {
    const table = `trellis_src_${randomBytes(5).toString('hex')}`;
    let admin: mysql.Connection;
    before(async () => {
      admin = await mysql.createConnection({ uri: MY });
      await admin.query(`CREATE TABLE ${table} (id INT, name VARCHAR(20), price DECIMAL(10,2), big BIGINT, at DATETIME, ok BOOLEAN)`);
      await admin.query(`INSERT INTO ${table} VALUES (1, 'ann', 10.25, 1, '2024-01-02 03:04:05', 1), (2, NULL, NULL, 2, NULL, 0), (3, 'cy', 3.50, 3, '2024-03-04 05:06:07', 1)`);
    });
    after(async () => {
      await admin.query(`DROP TABLE IF EXISTS ${table}`);
      await admin.end();
    });

    it('adds the rows of a query with their types; the password is not recorded; a change is a new version', async () => {
      const withPassword = MY.replace('mysql://root@', 'mysql://root:hunter2@');
      // The server takes root without a password; a wrong one is refused, so give none but check the redaction on the way.
      assert.equal(redactSource(withPassword), MY);
      const query = `SELECT * FROM ${table} ORDER BY id`;
      const progress: SourceProgress[] = [];
      const a = await addFromSource(data, 'mydata', MY, { query, onProgress: (p) => progress.push(p), env: { TRELLIS_SOURCE_BATCH_ROWS: '2' } }, who);
      assert.equal(a.version.rows, 3);
      assert.equal(a.version.source, MY);
      assert.equal(a.version.lineage?.query, query);
      assert.deepEqual(progress.map((p) => p.rows), [2, 3]);
      const t = await data.load('mydata@1');
      assert.deepEqual(Object.fromEntries(t.columns.map((c) => [c.name, c.type])), { id: 'integer', name: 'string', price: 'float', big: 'integer', at: 'datetime', ok: 'integer' });
      assert.deepEqual(rowsOf(t).map((x) => x.price), [10.25, null, 3.5]);
      assert.equal(new Date(rowsOf(t)[0]!.at as number).toISOString(), '2024-01-02T03:04:05.000Z');

      await admin.query(`UPDATE ${table} SET price = 99 WHERE id = 1`);
      const b = await addFromSource(data, 'mydata', MY, { query }, who);
      assert.equal(b.version.version, 2);
      assert.notEqual(b.version.sha256, a.version.sha256);
      assert.deepEqual(rowsOf(await data.load('mydata@1')).map((x) => x.price), [10.25, null, 3.5]);
      assert.deepEqual(rowsOf(await data.load('mydata@2')).map((x) => x.price), [99, null, 3.5]);
    });

    it('says what is wrong: refused connection, SQL error, empty result, wrong password', async () => {
      await rejects(addFromSource(data, 'bad', 'mysql://root@127.0.0.1:1/test', { query: 'select 1' }, who), 'TRELLIS_DATA_SOURCE_UNREACHABLE', '127.0.0.1:1', 'connection refused');
      await rejects(addFromSource(data, 'bad', MY, { query: 'select * from trellis_no_such_table' }, who), 'TRELLIS_DATA_SOURCE_FAILED', "trellis_no_such_table' doesn't exist");
      await rejects(addFromSource(data, 'bad', MY, { query: `select * from ${table} where id < 0` }, who), 'TRELLIS_DATA_EMPTY', 'no rows');
      await rejects(addFromSource(data, 'bad', 'mariadb://trellis_nobody:wrong@127.0.0.1:3306/test', { query: 'select 1' }, who), 'TRELLIS_DATA_SOURCE_FAILED', 'Access denied');
      await rejects(addFromSource(data, 'bad', MY, {}, who), 'TRELLIS_INVALID_PARAMETER', '--query');
    });
  });

  describe('https and http', () => {
    let server: Server;
    let base: string;
    const CSV = 'x,y\n1,a\n2,b\n3,c\n';
    before(async () => {
      server = createServer((req, res) => {
        if (req.url === '/data.csv') return res.end(CSV);
        if (req.url === '/download?id=7') return res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8' }).end(CSV);
        if (req.url === '/moved') return res.writeHead(302, { location: '/data.csv' }).end();
        if (req.url === '/to-metadata') return res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
        if (req.url === '/big.csv') return res.end(`x\n${'1\n'.repeat(1000)}`);
        res.writeHead(404).end('no such thing');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      await new Promise((r) => server.close(r));
    });
    const allow = { TRELLIS_EGRESS_ALLOW: '127.0.0.1' };

    it('refuses loopback unless TRELLIS_EGRESS_ALLOW lists it, naming the address and the setting', async () => {
      await rejects(addFromSource(data, 'web', `${base}/data.csv`, { env: {} }, who), 'TRELLIS_EGRESS_BLOCKED', '127.0.0.1', 'loopback', 'TRELLIS_EGRESS_ALLOW=127.0.0.1');
      // A name resolving to loopback is refused too (the check is on the resolved address).
      await rejects(addFromSource(data, 'web', `https://localhost:${(server.address() as AddressInfo).port}/data.csv`, { env: {} }, who), 'TRELLIS_EGRESS_BLOCKED', 'localhost', 'loopback');
      const r = await addFromSource(data, 'web', `${base}/data.csv`, { env: allow }, who);
      assert.equal(r.version.rows, 3);
      assert.equal(r.version.source, `${base}/data.csv`);
      assert.equal(r.version.format, 'csv');
      assert.deepEqual(rowsOf(await data.load('web@1')), [{ x: 1, y: 'a' }, { x: 2, y: 'b' }, { x: 3, y: 'c' }]);
    });

    it('follows redirects, checking each; takes the format from the content type; refuses a 404, an oversized file and plain http to other hosts', async () => {
      const r = await addFromSource(data, 'web2', `${base}/moved`, { env: allow }, who);
      assert.equal(r.version.rows, 3);
      const ct = await addFromSource(data, 'web3', `${base}/download?id=7`, { env: allow }, who);
      assert.equal(ct.version.format, 'csv');
      await rejects(addFromSource(data, 'web', `${base}/to-metadata`, { env: allow }, who), 'TRELLIS_EGRESS_BLOCKED', '169.254.169.254', 'link-local');
      await rejects(addFromSource(data, 'web', `${base}/missing.csv`, { env: allow }, who), 'TRELLIS_DATA_FILE_NOT_FOUND', `${base}/missing.csv`);
      await rejects(addFromSource(data, 'web', `${base}/big.csv`, { env: { ...allow, TRELLIS_SOURCE_MAX_BYTES: '100' } }, who), 'TRELLIS_DATA_SOURCE_FAILED', 'over the limit of 100 bytes', 'TRELLIS_SOURCE_MAX_BYTES');
      await rejects(addFromSource(data, 'web', 'http://example.com/data.csv', { env: {} }, who), 'TRELLIS_DATA_SOURCE_FAILED', 'plain http://', 'TRELLIS_EGRESS_ALLOW');
      await rejects(addFromSource(data, 'web', `${base}/data.csv`, { env: allow, query: 'select 1' }, who), 'TRELLIS_INVALID_PARAMETER', 'only to a SQL source');
    });

    it('records no password nor secret-looking parameters of a URL', () => {
      assert.equal(redactSource('https://ann:pw@host.example/d.csv?X-Amz-Signature=abc&part=1'), 'https://ann@host.example/d.csv?X-Amz-Signature=REDACTED&part=1');
      assert.equal(redactSource('postgres://u:p%40ss@db.example:5432/sales?sslpassword=x'), 'postgres://u@db.example:5432/sales?sslpassword=REDACTED');
      assert.equal(redactSource('data/x.csv'), 'data/x.csv');
    });

    it('knows which addresses are internal', () => {
      for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1']) assert.ok(internalRange(a), a);
      for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700::1111', '172.32.0.1']) assert.equal(internalRange(a), undefined, a);
      const p = egressPolicy(['10.0.0.0/8', 'data.internal']);
      checkEgress(p, 'x', '10.9.9.9');
      checkEgress(p, 'data.internal', '192.168.0.5');
      assert.throws(() => checkEgress(p, 'x', '192.168.0.5'), (e: unknown) => isTrellisError(e, 'TRELLIS_EGRESS_BLOCKED'));
      assert.throws(() => egressPolicy(['10.0.0.0/40']), /prefix/);
    });
  });

  describe('S3', () => {
    let s3: S3TestServer;
    const saved: Record<string, string | undefined> = {};
    before(async () => {
      s3 = await startS3rver();
      for (const [k, v] of Object.entries(s3.env)) {
        saved[k] = process.env[k];
        process.env[k] = v;
      }
      await s3.client().send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'exports/2024/sales.csv', Body: 'region,total\nnorth,10\nsouth,20\n' }));
      await s3.client().send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'raw.jsonl', Body: '{"a":1}\n{"a":2}\n' }));
    });
    after(async () => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await s3?.stop();
    });

    it('adds an object as a version, through the artifact store S3 settings', async () => {
      const uri = `s3://${s3.bucket}/exports/2024/sales.csv`;
      const r = await addFromSource(data, 'sales', uri, {}, who);
      assert.equal(r.version.source, uri);
      assert.equal(r.version.format, 'csv');
      assert.deepEqual(rowsOf(await data.load('sales@1')), [{ region: 'north', total: 10 }, { region: 'south', total: 20 }]);
      const j = await addFromSource(data, 'raw', `s3://${s3.bucket}/raw.jsonl`, {}, who);
      assert.equal(j.version.rows, 2);
      await rejects(addFromSource(data, 'sales', `s3://${s3.bucket}/exports/missing.csv`, {}, who), 'TRELLIS_DATA_FILE_NOT_FOUND', 'missing.csv');
      await rejects(addFromSource(data, 'sales', uri, { query: 'select 1' }, who), 'TRELLIS_INVALID_PARAMETER', 'S3 object');
      await rejects(addFromSource(data, 'sales', 's3://trellis-no-such-bucket/x.csv', {}, who), 'TRELLIS_DATA_SOURCE_FAILED', 's3://trellis-no-such-bucket/x.csv');
      await rejects(addFromSource(data, 'sales', `s3://${s3.bucket}`, {}, who), 'TRELLIS_INVALID_PARAMETER', 'names a bucket, not an object');
    });
  });

  it('refuses an unknown scheme, naming the ones it reads', async () => {
    await rejects(addFromSource(data, 'x', 'ftp://files.example/data.csv', {}, who), 'TRELLIS_INVALID_PARAMETER', "'ftp://'", 's3://', 'postgres://');
  });

  it('still adds a local file, and a file:// URL', async () => {
    const f = join(dir, 'local.csv');
    await writeFile(f, 'a,b\n1,2\n');
    const r = await addFromSource(data, 'local', f, {}, who);
    assert.equal(r.version.source, f);
    const u = await addFromSource(data, 'local2', `file://${f}`, {}, who);
    assert.equal(u.version.rows, 1);
  });
});
