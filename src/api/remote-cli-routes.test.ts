/**
 * The routes the CLI uses against a server, at the edge: the audit events, lineage by reference,
 * a dataset version's bytes, and the environments of an upload. Bad input is a 400 naming the
 * parameter; a missing version a 404 with the store's code.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertError, assertOk, call, rawCall, openTestServer, type TestServer } from './test-helpers/server.js';

const who = { actor: 'tester' };
const trellis = (path: string) => `/api/2.0/trellis${path}`;
const CSV = 'season,temp,cnt\n1,0.2,10\n2,0.4,20\n3,0.6,30\n';

describe('routes for the CLI against a server', () => {
  let t: TestServer;
  before(async () => {
    t = await openTestServer();
    const file = join(t.dir, 'bike.csv');
    writeFileSync(file, CSV);
    await t.ws.data.add('bike', file, {}, who);
    await t.ws.registry.createModel({ name: 'm' }, who);
  });
  after(() => t.close());

  it('GET /audit/events: newest first, by entity, bounded', async () => {
    const res = await call(t.app, 'GET', trellis('/audit/events?newest_first=true&limit=1'));
    assertOk(res);
    const events = res.json.events as { seq: number; entity_type: string; entity_id: string; actor: string; hash: string; prev_hash: string }[];
    assert.equal(events.length, 1);
    assert.deepEqual([events[0]!.entity_type, events[0]!.entity_id, events[0]!.actor], ['registered_model', 'm', 'tester']);
    assert.match(events[0]!.hash, /^[0-9a-f]{64}$/);
    const all = (await call(t.app, 'GET', trellis('/audit/events'))).json.events as { seq: number }[];
    assert.ok(all.length >= 2 && all.every((e, i) => i === 0 || e.seq > all[i - 1]!.seq));
    const one = (await call(t.app, 'GET', trellis('/audit/events?entity_type=registered_model&entity_id=m'))).json.events as unknown[];
    assert.equal(one.length, 1);
    assertError(await call(t.app, 'GET', trellis('/audit/events?limit=0')), 400, 'INVALID_PARAMETER_VALUE', "'limit'");
    assertError(await call(t.app, 'GET', trellis('/audit/events?limit=20000')), 400, 'INVALID_PARAMETER_VALUE', "'limit'");
    assertError(await call(t.app, 'GET', trellis('/audit/events?after_seq=-1')), 400, 'INVALID_PARAMETER_VALUE', "'after_seq'");
    assertError(await call(t.app, 'GET', trellis('/audit/events?since=soon')), 400, 'INVALID_PARAMETER_VALUE', 'since');
  });

  it('GET /lineage?ref=…: a reference as the CLI reads it, alone', async () => {
    const res = await call(t.app, 'GET', trellis('/lineage?ref=bike@1&depth=1'));
    assertOk(res);
    assert.equal(res.json.root, 'dataset-version:bike@1');
    assertError(await call(t.app, 'GET', trellis('/lineage?ref=bike@1&dataset=bike')), 400, 'INVALID_PARAMETER_VALUE', "'ref'");
    assertError(await call(t.app, 'GET', trellis('/lineage?ref=bike@1&depth=x')), 400, 'INVALID_PARAMETER_VALUE', "'depth'");
    assertError(await call(t.app, 'GET', trellis('/lineage?ref=nothing@1')), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  it('GET /datasets/download: the stored bytes, exactly', async () => {
    const res = await call(t.app, 'GET', trellis('/datasets/download?name=bike&version=1'));
    assertOk(res);
    assert.equal(res.body, CSV);
    assert.match(String(res.headers['content-type']), /^application\/octet-stream/);
    assert.match(String(res.headers['content-disposition']), /filename="bike-1\.csv"/);
    assert.equal(res.headers['x-trellis-sha256'], (await t.ws.data.get('bike@1')).sha256);
    assert.equal((await call(t.app, 'GET', trellis('/datasets/download?name=bike'))).body, CSV);
    assertError(await call(t.app, 'GET', trellis('/datasets/download?name=bike&version=9')), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertError(await call(t.app, 'GET', trellis('/datasets/download?version=1')), 400, 'INVALID_PARAMETER_VALUE', "'name'");
    assertError(await call(t.app, 'GET', trellis('/datasets/download?name=bike&version=x')), 400, 'INVALID_PARAMETER_VALUE', "'version'");
  });

  it('POST /datasets/versions?environments=…: kept in the schema, checked at the edge', async () => {
    const url = (env: string) => trellis(`/datasets/versions?name=env&filename=env.csv&environments=${encodeURIComponent(env)}`);
    const res = await rawCall(t.app, 'POST', url('{"cnt":["training"]}'), CSV, { 'content-type': 'text/csv' });
    assertOk(res);
    const columns = res.json.dataset_version.schema.columns as { name: string; environments?: string[] }[];
    assert.deepEqual(columns.find((c) => c.name === 'cnt')!.environments, ['training']);
    assert.deepEqual(res.json.type_breaks, []);
    for (const bad of ['cnt=training', '["cnt"]', '{"cnt":"training"}', '{"cnt":[""]}']) {
      assertError(await rawCall(t.app, 'POST', url(bad), CSV, { 'content-type': 'text/csv' }), 400, 'INVALID_PARAMETER_VALUE', "'environments'");
    }
    const broken = await rawCall(t.app, 'POST', trellis('/datasets/versions?name=broken&filename=b.csv'), 'a,b\n1,2\n3,x\n', { 'content-type': 'text/csv' });
    assertOk(broken);
    assert.deepEqual((broken.json.type_breaks as { column: string; line: number; value: string }[]).map((b) => [b.column, b.line, b.value]), [['b', 3, 'x']]);
  });
});
