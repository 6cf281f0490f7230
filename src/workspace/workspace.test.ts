import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTrellisError } from '../core/errors.js';
import { Workspace } from './workspace.js';

const code = (c: string, text?: RegExp) => (e: unknown) => isTrellisError(e) && e.code === c && (!text || text.test(e.message));
const who = { actor: 'alice' };

describe('Workspace', () => {
  let dir: string;
  const uris = () => ({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-ws-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a URI it cannot open by name, before opening anything', async () => {
    await assert.rejects(Workspace.open({ ...uris(), queue: 'amqp://broker' }), code('TRELLIS_STORE_URI_INVALID', /amqp:\/\/broker/));
    assert.equal(existsSync(join(dir, 't.db')), false, 'no store was created for a refused workspace');
    await assert.rejects(Workspace.open({ ...uris(), store: 'mysql://db' }), code('TRELLIS_STORE_URI_INVALID', /mysql:\/\/db/));
    await assert.rejects(Workspace.open({ ...uris(), artifacts: 'ftp://host/x' }), code('TRELLIS_STORE_URI_INVALID', /ftp:\/\/host/));
  });

  it('takes the queue from TRELLIS_QUEUE_URI, inline by default', async () => {
    const saved = process.env.TRELLIS_QUEUE_URI;
    try {
      delete process.env.TRELLIS_QUEUE_URI;
      const a = await Workspace.open(uris());
      assert.equal(a.queueUri, 'inline');
      await a.close();
      process.env.TRELLIS_QUEUE_URI = 'redis://127.0.0.1:6379/3';
      const b = await Workspace.open(uris());
      assert.equal(b.queueUri, 'redis://127.0.0.1:6379/3');
      await b.close();
    } finally {
      if (saved === undefined) delete process.env.TRELLIS_QUEUE_URI;
      else process.env.TRELLIS_QUEUE_URI = saved;
    }
  });

  it('opens runners on its queue: inline here, redis:// through a dispatcher; a worker needs a queue', async () => {
    const ws = await Workspace.open({ ...uris(), queue: 'redis://127.0.0.1:6379' });
    try {
      assert.equal(ws.storeKind, 'sqlite');
      const here = await ws.pipelines.openEngine(who, { queue: 'inline' });
      assert.equal(here.engine.o.dispatcher, undefined);
      await here.close();
      const queued = await ws.pipelines.openEngine(who);
      assert.ok(queued.engine.o.dispatcher, 'steps go through the Redis dispatcher');
      assert.equal(queued.engine.o.concurrency, 16);
      await queued.close();
      await assert.rejects(ws.pipelines.startWorker(who, { queue: 'inline' }), code('TRELLIS_INVALID_PARAMETER', /--queue redis:\/\//));
    } finally {
      await ws.close();
    }
  });

  it('gives services, and the services share its stores', async () => {
    const ws = await Workspace.open(uris());
    try {
      const exp = await ws.tracking.ensureExperiment('shared', who);
      const run = await ws.tracking.createRun({ experimentId: exp.experimentId }, who);
      const { version } = await ws.registry.registerRun({ name: 'm', run, artifactPath: 'model' }, who);
      assert.equal(version.runId, run.info.runId);
      const events = await ws.audit.events();
      assert.ok(events.some((e) => e.action === 'create_model_version'));
      assert.equal((await ws.audit.verify()).ok, true);
      assert.equal('meta' in ws, false, 'the stores are not handed out');
    } finally {
      await ws.close();
    }
  });
});
