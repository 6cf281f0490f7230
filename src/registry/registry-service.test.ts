import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTrellisError } from '../core/errors.js';
import { openStores } from '../store/open-stores.js';
import type { Run } from '../store/ports/tracking.js';
import type { Stores } from '../store/stores.js';
import { RegistryService } from './registry-service.js';

const who = { actor: 'alice' };
const code = (c: string) => (e: unknown) => isTrellisError(e) && e.code === c;

describe('RegistryService', () => {
  let dir: string;
  let stores: Stores;
  let registry: RegistryService;
  let run: Run;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-registry-'));
    stores = await openStores(`sqlite:${join(dir, 't.db')}`);
    registry = new RegistryService(stores.registry, stores.tracking, stores.audit);
    run = await stores.tracking.createRun({ experimentId: '0' }, who);
  });
  after(async () => {
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registerRun creates the model on first use, points the source at the run, and sets the alias', async () => {
    const { version, created } = await registry.registerRun({ name: 'bike', run, artifactPath: 'model', alias: 'champion', tags: { 'metric.r2': '0.5' } }, who);
    assert.equal(created, true);
    assert.equal(version.version, '1');
    assert.equal(version.source, `${run.info.artifactUri}/model`);
    assert.equal(version.runId, run.info.runId);
    assert.deepEqual(version.aliases, ['champion']);
    assert.equal((await registry.getVersionByAlias('bike', 'champion')).version, '1');
    assert.equal((await registry.getVersion('bike', '1')).tags['metric.r2'], '0.5');
  });

  it('registerRun with reuse finds the version made from the run, and moves the alias only when it points elsewhere', async () => {
    const other = await registry.registerRun({ name: 'bike', run: run.info.runId, artifactPath: 'model' }, who);
    assert.deepEqual([other.version.version, other.created], ['2', true], 'without reuse, a new version each time');
    await registry.setAlias('bike', 'champion', '2', who);
    const again = await registry.registerRun({ name: 'bike', run: run.info.runId, artifactPath: 'model', alias: 'champion', reuse: true }, who);
    assert.deepEqual([again.version.version, again.created], ['1', false]);
    assert.equal((await registry.getVersionByAlias('bike', 'champion')).version, '1');
    const events = await stores.audit.listAuditEvents({ entityType: 'registered_model', entityId: 'bike', action: 'set_alias' });
    const before = events.length;
    await registry.registerRun({ name: 'bike', run: run.info.runId, artifactPath: 'model', alias: 'champion', reuse: true }, who);
    assert.equal((await stores.audit.listAuditEvents({ entityType: 'registered_model', entityId: 'bike', action: 'set_alias' })).length, before, 'an alias already in place is not moved again');
  });

  it('resolves every spelling of a version reference, and refuses one that is not a reference', async () => {
    assert.equal((await registry.resolve('bike@champion')).version, '1');
    assert.equal((await registry.resolve('bike@2')).version, '2');
    assert.equal((await registry.resolve('bike@v2')).version, '2');
    assert.equal((await registry.resolve('bike/1')).version, '1');
    assert.equal((await registry.resolve('bike@latest')).version, '2');
    await assert.rejects(registry.resolve('bike'), /'bike' names a model, not one of its versions: write bike@<version>, bike@<alias>, bike@latest or bike\/<version>/);
    await assert.rejects(registry.resolve('bike@nobody'), code('TRELLIS_ALIAS_NOT_FOUND'));
    await assert.rejects(registry.resolve('bike@nobody'), /no alias 'nobody' on model 'bike' \(aliases: champion\)/);
    await assert.rejects(registry.resolve('bike/9'), /no version 9 of model 'bike' \(versions: 1, 2\)/);
    await assert.rejects(registry.resolve('bike@1@2'), /'bike@1@2' is not a reference: use name@version, name@alias or name\/version/);
    await assert.rejects(registry.resolve('nothing/1'), code('TRELLIS_MODEL_NOT_FOUND'));
    await assert.rejects(registry.resolve('nothing/1'), /no model 'nothing'/);
    assert.deepEqual(await registry.lookup('bike@champion').then((r) => [r.model.name, r.version?.version]), ['bike', '1']);
    assert.deepEqual(await registry.lookup('bike').then((r) => [r.model.name, r.version]), ['bike', undefined]);
    assert.equal(await registry.find('bike@nobody'), undefined);
    assert.equal(await registry.find('nothing@champion'), undefined);
    assert.equal(await registry.find('bike/9'), undefined);
  });

  it('ensureModel gives racing callers the one model', async () => {
    const models = await Promise.all(Array.from({ length: 6 }, () => registry.ensureModel('raced', who)));
    assert.equal(new Set(models.map((m) => m.name)).size, 1);
    assert.equal((await stores.audit.listAuditEvents({ entityType: 'registered_model', entityId: 'raced', action: 'create_registered_model' })).length, 1);
    assert.equal(await registry.findModel('never'), undefined);
  });

  it('refuses a version source outside a run\'s artifacts', async () => {
    await assert.rejects(registry.createVersion({ name: 'bike', source: 'file:///etc/passwd' }, who), code('TRELLIS_SOURCE_INVALID'));
    await assert.rejects(registry.createVersion({ name: 'bike', source: 'mlflow-artifacts:/0/elsewhere/artifacts/model' }, who), code('TRELLIS_SOURCE_INVALID'));
  });
});
