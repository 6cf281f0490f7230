/**
 * Page tokens at the MLflow routes, on SQLite and on the real PostgreSQL: the next_page_token of
 * each search brings the next page, and a token a client made up or altered is a 400
 * INVALID_PARAMETER_VALUE naming page_token, never another page.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase } from '../store/test-helpers/postgres.js';
import { Workspace } from '../workspace/workspace.js';
import { buildServer } from './server.js';
import { assertError, assertOk, call, createExperiment, createRun, mlflow, type Res } from './test-helpers/server.js';

const backends: [string, (dir: string) => Promise<{ store: string; drop?: () => Promise<void> }>][] = [
  ['sqlite', async (dir) => ({ store: `sqlite:${dir}/t.db` })],
  ['postgres', async () => {
    const db = await createTestDatabase();
    return { store: db.uri, drop: db.drop };
  }],
];

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64');
const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** Tokens a client could make from one it was given: unsigned JSON, a moved offset, another key's signature. */
function forgeries(real: string): [string, string][] {
  const [payload, tag] = real.split('.') as [string, string];
  const offset = (JSON.parse(Buffer.from(payload, 'base64url').toString()) as { offset: number }).offset;
  return [
    ['the same JSON re-encoded without a signature', b64({ offset })],
    ['the same JSON as base64url without a signature', b64url({ offset })],
    ['the offset changed under the old signature', `${b64url({ offset: offset + 1 })}.${tag}`],
    ['the offset moved back to 0 under the old signature', `${b64url({ offset: 0 })}.${tag}`],
    // Signed as the server signs, under a key the server does not hold (another server's, or its own before a restart).
    ['a token signed with another key', `${payload}.${createHmac('sha256', randomBytes(32)).update('trellis page token v1.').update(payload).digest().subarray(0, 16).toString('base64url')}`],
    ['the signature cut off', `${payload}.`],
  ];
}

for (const [backend, openStore] of backends) {
  describe(`page tokens on ${backend}`, () => {
    let app: FastifyInstance;
    let ws: Workspace;
    let dir: string;
    let drop: (() => Promise<void>) | undefined;
    let expId: string;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'trellis-pages-'));
      const s = await openStore(dir);
      drop = s.drop;
      ws = await Workspace.open({ store: s.store, artifacts: `file:${dir}/a` });
      app = await buildServer(ws, { version: '9.9.9-test' });
      await app.ready();
      expId = await createExperiment(app, 'paged-a');
      await createExperiment(app, 'paged-b');
      await createExperiment(app, 'paged-c');
      let runId = '';
      for (let i = 0; i < 3; i++) ({ runId } = await createRun(app, expId));
      for (const name of ['paged-m1', 'paged-m2', 'paged-m3']) {
        assertOk(await call(app, 'POST', mlflow('/registered-models/create'), { name }));
      }
      for (let i = 0; i < 3; i++) {
        assertOk(await call(app, 'POST', mlflow('/model-versions/create'), { name: 'paged-m1', source: `runs:/${runId}/model`, run_id: runId }));
      }
    });
    after(async () => {
      await app?.close();
      await ws?.close();
      await drop?.();
      await rm(dir, { recursive: true, force: true });
    });

    const searches: [string, (token?: string) => Promise<Res>, (r: Res) => unknown[]][] = [
      ['runs/search', (t) => call(app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId], max_results: 2, ...(t ? { page_token: t } : {}) }), (r) => r.json.runs ?? []],
      ['experiments/search', (t) => call(app, 'POST', mlflow('/experiments/search'), { filter: "name LIKE 'paged-%'", max_results: 2, ...(t ? { page_token: t } : {}) }), (r) => r.json.experiments ?? []],
      ['registered-models/search', (t) => call(app, 'GET', mlflow(`/registered-models/search?filter=${encodeURIComponent("name LIKE 'paged-%'")}&max_results=2${t ? `&page_token=${encodeURIComponent(t)}` : ''}`)), (r) => r.json.registered_models ?? []],
      ['model-versions/search', (t) => call(app, 'GET', mlflow(`/model-versions/search?filter=${encodeURIComponent("name = 'paged-m1'")}&max_results=2${t ? `&page_token=${encodeURIComponent(t)}` : ''}`)), (r) => r.json.model_versions ?? []],
    ];

    for (const [route, search, items] of searches) {
      it(`${route}: the next_page_token brings the last page; a forged token is refused`, async () => {
        const first = await search();
        assertOk(first);
        assert.equal(items(first).length, 2);
        const next = first.json.next_page_token as string;
        assert.equal(typeof next, 'string');
        const second = await search(next);
        assertOk(second);
        assert.equal(items(second).length, 1);
        assert.equal(second.json.next_page_token, undefined);
        for (const [label, forged] of forgeries(next)) {
          const res = await search(forged);
          assert.equal(res.status, 400, `${label}: ${res.body}`);
          assertError(res, 400, 'INVALID_PARAMETER_VALUE', 'page_token');
        }
      });
    }
  });
}
