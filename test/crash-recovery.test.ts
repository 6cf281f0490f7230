/**
 * kill -9 of the server while it creates model versions and logs batches, repeated: after each
 * restart the database opens, every acknowledged write is there, no batch is half-written, and the
 * audit chain verifies.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Workspace } from '../src/workspace/workspace.js';
import { verifyAuditChain } from '../src/store/audit-chain.js';

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const BATCH = 200;

async function startServer(store: string, artifacts: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, '--store', store, '--artifacts', artifacts, 'server', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  return { child, url };
}

async function post(url: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${url}/api/2.0/mlflow/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

describe('server process lifecycle', () => {
  let dir: string;
  let store: string;
  let artifacts: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-crash-'));
    store = `sqlite:${join(dir, 'trellis.db')}`;
    artifacts = `file:${join(dir, 'artifacts')}`;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every acknowledged write and nothing half-written, five times over', async (t) => {
    const ackedVersions: string[] = [];
    const ackedBatches: { runId: string; step: number }[] = [];
    const runIds: string[] = [];
    for (let round = 0; round < 5; round++) {
      const { child, url } = await startServer(store, artifacts);
      const exited = new Promise((r) => child.once('exit', r));
      if (round === 0) assert.equal((await post(url, 'registered-models/create', { name: 'crashy' })).status, 200);
      const run = (await (await post(url, 'runs/create', { experiment_id: '0' })).json()) as { run: { info: { run_id: string } } };
      const runId = run.run.info.run_id;
      runIds.push(runId);
      let stop = false;
      const writers = [
        (async () => {
          while (!stop) {
            const r = await post(url, 'model-versions/create', { name: 'crashy', source: `runs:/${runId}/model`, run_id: runId }).catch(() => undefined);
            if (r?.status === 200) ackedVersions.push(((await r.json()) as { model_version: { version: string } }).model_version.version);
          }
        })(),
        ...[0, 1].map((w) => (async () => {
          for (let step = w; !stop; step += 2) {
            const metrics = Array.from({ length: BATCH }, (_, i) => ({ key: `k${i}`, value: step + i / 1000, timestamp: 1, step }));
            const r = await post(url, 'runs/log-batch', { run_id: runId, metrics }).catch(() => undefined);
            if (r?.status === 200) ackedBatches.push({ runId, step });
          }
        })()),
      ];
      await new Promise((r) => setTimeout(r, 300 + round * 150));
      child.kill('SIGKILL');
      await exited;
      stop = true;
      await Promise.all(writers);
    }

    t.diagnostic(`acknowledged before the kills: ${ackedVersions.length} versions, ${ackedBatches.length} batches of ${BATCH} metrics`);
    assert.ok(ackedVersions.length > 5, `some versions were acknowledged (${ackedVersions.length})`);
    assert.ok(ackedBatches.length > 5, `some batches were acknowledged (${ackedBatches.length})`);
    const ws = await Workspace.open({ store, artifacts });
    try {
      for (const v of ackedVersions) assert.equal((await ws.registry.getVersion('crashy', v)).version, v);
      const versions = (await ws.registry.searchVersions({ filter: "name = 'crashy'", maxResults: 100000 })).items;
      assert.equal(new Set(versions.map((v) => v.version)).size, versions.length, 'no version number twice');
      for (const runId of runIds) {
        for (let i = 0; i < BATCH; i += 37) {
          const history = await ws.tracking.getMetricHistory(runId, `k${i}`);
          const steps = new Set(history.items.map((m) => m.step));
          for (const b of ackedBatches.filter((x) => x.runId === runId)) assert.ok(steps.has(b.step), `acknowledged batch ${b.step} of ${runId} is there`);
        }
        // All-or-nothing: every step present has all BATCH metrics.
        const k0 = new Set((await ws.tracking.getMetricHistory(runId, 'k0')).items.map((m) => m.step));
        const kLast = new Set((await ws.tracking.getMetricHistory(runId, `k${BATCH - 1}`)).items.map((m) => m.step));
        assert.deepEqual([...k0].sort(), [...kLast].sort(), 'no batch is half-written');
      }
      const events = await ws.audit.events({ limit: 10_000_000 });
      const v = verifyAuditChain(events);
      assert.equal(v.ok, true, JSON.stringify(v.firstBad));
      assert.equal(events.filter((e) => e.action === 'create_model_version').length, versions.length, 'one audit event per version');
    } finally {
      await ws.close();
    }
  });

  it('drains requests in flight on SIGTERM and exits 0', async () => {
    const { child, url } = await startServer(store, artifacts);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const run = (await (await post(url, 'runs/create', { experiment_id: '0' })).json()) as { run: { info: { run_id: string } } };
    const runId = run.run.info.run_id;
    const metrics = (step: number) => Array.from({ length: 1000 }, (_, i) => ({ key: `d${i % 10}`, value: i, timestamp: 1, step: step * 100 + Math.floor(i / 10) }));
    const inFlight = Array.from({ length: 20 }, (_, i) => post(url, 'runs/log-batch', { run_id: runId, metrics: metrics(i) }).then((r) => r.status, () => 'refused'));
    await new Promise((r) => setTimeout(r, 15));
    child.kill('SIGTERM');
    const statuses = await Promise.all(inFlight);
    assert.equal(await exited, 0, 'exit code after SIGTERM');
    // Requests that arrive once draining began get 503 (which MLflow clients retry) or no connection.
    assert.ok(statuses.every((s) => s === 200 || s === 503 || s === 'refused'), `every request either completed or was turned away: ${statuses.join(',')}`);
    assert.ok(statuses.includes(200), 'requests in flight completed');
    const ws = await Workspace.open({ store, artifacts });
    try {
      const points = (await ws.tracking.getMetricHistory(runId, 'd0')).items.length;
      assert.equal(points, statuses.filter((s) => s === 200).length * 100, 'every acknowledged batch is stored, and only those');
    } finally {
      await ws.close();
    }
  });
});
