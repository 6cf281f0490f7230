/** MLflow registered-model routes, aliases included (spec §1.5). */
import { LIMITS } from '../../store/limits.js';
import type { Page } from '../../store/ports/common.js';
import type { RegisteredModel } from '../../store/ports/registry.js';
import type { Workspace } from '../../workspace/workspace.js';
import { modelVersionJson, registeredModelJson, repeated } from '../mlflow-json.js';
import type { MlflowRouter } from '../router.js';

export function registeredModelRoutes(r: MlflowRouter, ws: Workspace): void {
  r.post('/registered-models/create', async ({ p, who }) => {
    const model = await ws.registry.createModel({
      name: p.requireString('name'),
      description: p.optionalString('description', LIMITS.descriptionLength),
      tags: p.optionalTags('tags'),
    }, who);
    return { registered_model: registeredModelJson(model) };
  });

  r.get('/registered-models/get', async ({ p }) => ({
    registered_model: registeredModelJson(await ws.registry.getModel(p.requireString('name'))),
  }));

  r.get('/registered-models/search', async ({ p }) => modelsPage(await ws.registry.searchModels({
    filter: p.optionalString('filter', LIMITS.filterLength),
    orderBy: p.optionalStringArray('order_by', LIMITS.orderByKeys),
    maxResults: p.optionalInt('max_results'),
    pageToken: p.optionalString('page_token'),
  })));

  // MLflow 1.x.
  r.get('/registered-models/list', async ({ p }) => modelsPage(await ws.registry.searchModels({
    maxResults: p.optionalInt('max_results'),
    pageToken: p.optionalString('page_token'),
  })));

  r.post('/registered-models/rename', async ({ p, who }) => ({
    registered_model: registeredModelJson(await ws.registry.renameModel(p.requireString('name'), p.requireString('new_name'), who)),
  }));

  r.patch('/registered-models/update', async ({ p, who }) => ({
    registered_model: registeredModelJson(await ws.registry.updateModel(p.requireString('name'), p.optionalString('description', LIMITS.descriptionLength) ?? '', who)),
  }));

  r.delete('/registered-models/delete', async ({ p, who }) => {
    await ws.registry.deleteModel(p.requireString('name'), who);
    return {};
  });

  r.post('/registered-models/set-tag', async ({ p, who }) => {
    await ws.registry.setModelTag(p.requireString('name'), p.requireString('key'), p.optionalString('value') ?? '', who);
    return {};
  });

  r.delete('/registered-models/delete-tag', async ({ p, who }) => {
    await ws.registry.deleteModelTag(p.requireString('name'), p.requireString('key'), who);
    return {};
  });

  r.route(['GET', 'POST'], '/registered-models/get-latest-versions', async ({ p }) => {
    const versions = await ws.registry.getLatestVersions(p.requireString('name'), p.optionalStringArray('stages'));
    return { model_versions: repeated(versions.map(modelVersionJson)) };
  });

  r.post('/registered-models/alias', async ({ p, who }) => {
    await ws.registry.setAlias(p.requireString('name'), p.requireString('alias'), p.requireId('version'), who);
    return {};
  });

  r.delete('/registered-models/alias', async ({ p, who }) => {
    await ws.registry.deleteAlias(p.requireString('name'), p.requireString('alias'), who);
    return {};
  });

  r.get('/registered-models/alias', async ({ p }) => ({
    model_version: modelVersionJson(await ws.registry.getVersionByAlias(p.requireString('name'), p.requireString('alias'))),
  }));
}

function modelsPage(page: Page<RegisteredModel>): object {
  return { registered_models: repeated(page.items.map(registeredModelJson)), next_page_token: page.nextPageToken };
}
