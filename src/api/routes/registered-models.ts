/** MLflow registered-model routes, aliases included (spec §1.5). */
import { LIMITS } from '../../store/limits.js';
import type { Page } from '../../store/ports/common.js';
import type { RegisteredModel } from '../../store/ports/registry.js';
import type { Workspace } from '../../workspace/workspace.js';
import { modelVersionJson, registeredModelJson, repeated } from '../mlflow-json.js';
import type { MlflowRouter } from '../router.js';
import type { RequestAuth } from '../request-auth.js';
import { byModel, modelObj } from '../route-objects.js';

export function registeredModelRoutes(r: MlflowRouter, ws: Workspace): void {
  r.post('/registered-models/create', { action: 'write', object: byModel() }, async ({ p, who }) => {
    const model = await ws.registry.createModel({
      name: p.requireString('name'),
      description: p.optionalString('description', LIMITS.descriptionLength),
      tags: p.optionalTags('tags'),
    }, who);
    return { registered_model: registeredModelJson(model) };
  });

  r.get('/registered-models/get', { action: 'read', object: byModel() }, async ({ p }) => ({
    registered_model: registeredModelJson(await ws.registry.getModel(p.requireString('name'))),
  }));

  r.get('/registered-models/search', { action: 'read', filtered: true }, async ({ p, auth }) => modelsPage(auth, await ws.registry.searchModels({
    filter: p.optionalString('filter', LIMITS.filterLength),
    orderBy: p.optionalStringArray('order_by', LIMITS.orderByKeys),
    maxResults: p.optionalInt('max_results'),
    pageToken: p.optionalString('page_token'),
  })));

  // MLflow 1.x.
  r.get('/registered-models/list', { action: 'read', filtered: true }, async ({ p, auth }) => modelsPage(auth, await ws.registry.searchModels({
    maxResults: p.optionalInt('max_results'),
    pageToken: p.optionalString('page_token'),
  })));

  r.post('/registered-models/rename', { action: 'write', object: byModel() }, async ({ p, who, auth }) => {
    const newName = p.requireString('new_name');
    // The new name is a model of its own to grants: the caller must be able to write to it too.
    auth.require('write', modelObj(newName));
    return { registered_model: registeredModelJson(await ws.registry.renameModel(p.requireString('name'), newName, who)) };
  });

  r.patch('/registered-models/update', { action: 'write', object: byModel() }, async ({ p, who }) => ({
    registered_model: registeredModelJson(await ws.registry.updateModel(p.requireString('name'), p.optionalString('description', LIMITS.descriptionLength) ?? '', who)),
  }));

  r.delete('/registered-models/delete', { action: 'write', object: byModel() }, async ({ p, who }) => {
    await ws.registry.deleteModel(p.requireString('name'), who);
    return {};
  });

  r.post('/registered-models/set-tag', { action: 'write', object: byModel() }, async ({ p, who }) => {
    await ws.registry.setModelTag(p.requireString('name'), p.requireString('key'), p.optionalString('value') ?? '', who);
    return {};
  });

  r.delete('/registered-models/delete-tag', { action: 'write', object: byModel() }, async ({ p, who }) => {
    await ws.registry.deleteModelTag(p.requireString('name'), p.requireString('key'), who);
    return {};
  });

  r.route(['GET', 'POST'], '/registered-models/get-latest-versions', { action: 'read', object: byModel() }, async ({ p }) => {
    const versions = await ws.registry.getLatestVersions(p.requireString('name'), p.optionalStringArray('stages'));
    return { model_versions: repeated(versions.map(modelVersionJson)) };
  });

  r.post('/registered-models/alias', { action: 'write', object: byModel() }, async ({ p, who }) => {
    await ws.registry.setAlias(p.requireString('name'), p.requireString('alias'), p.requireId('version'), who);
    return {};
  });

  r.delete('/registered-models/alias', { action: 'write', object: byModel() }, async ({ p, who }) => {
    await ws.registry.deleteAlias(p.requireString('name'), p.requireString('alias'), who);
    return {};
  });

  r.get('/registered-models/alias', { action: 'read', object: byModel() }, async ({ p }) => ({
    model_version: modelVersionJson(await ws.registry.getVersionByAlias(p.requireString('name'), p.requireString('alias'))),
  }));
}

/** A page of models, keeping those the caller may read. */
function modelsPage(auth: RequestAuth, page: Page<RegisteredModel>): object {
  const items = auth.can('read') ? page.items : page.items.filter((m) => auth.can('read', modelObj(m.name)));
  return { registered_models: repeated(items.map(registeredModelJson)), next_page_token: page.nextPageToken };
}
