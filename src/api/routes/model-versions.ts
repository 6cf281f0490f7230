/** MLflow model-version routes (spec §1.5). */
import { invalid } from '../../core/errors.js';
import { LIMITS, excerpt } from '../../store/limits.js';
import type { Stage } from '../../store/ports/registry.js';
import type { Workspace } from '../../workspace/workspace.js';
import { modelVersionJson, repeated } from '../mlflow-json.js';
import type { MlflowRouter } from '../router.js';
import { byModel, experimentObj, experimentOfRun, modelObj } from '../route-objects.js';

export function modelVersionRoutes(r: MlflowRouter, ws: Workspace): void {
  // Through the registry service, which refuses sources outside a run's artifacts.
  r.post('/model-versions/create', { action: 'write', object: byModel() }, async ({ p, who, auth }) => {
    const runId = p.optionalString('run_id', LIMITS.idLength) || undefined;
    const source = p.requireString('source', LIMITS.modelSourceLength);
    // Registering a run's files publishes them: the caller must be able to read that run.
    const sourceRun = runId ?? /^runs:\/([^/]+)\//.exec(source)?.[1];
    if (sourceRun !== undefined && !auth.can('read')) auth.require('read', experimentObj(await experimentOfRun(ws, sourceRun)));
    const version = await ws.registry.createVersion({
      name: p.requireString('name'),
      source,
      runId,
      runLink: p.optionalString('run_link', LIMITS.runLinkLength),
      description: p.optionalString('description', LIMITS.descriptionLength),
      tags: p.optionalTags('tags'),
    }, who);
    return { model_version: modelVersionJson(version) };
  });

  r.get('/model-versions/get', { action: 'read', object: byModel() }, async ({ p }) => ({
    model_version: modelVersionJson(await ws.registry.getVersion(p.requireString('name'), p.requireId('version'))),
  }));

  r.patch('/model-versions/update', { action: 'write', object: byModel() }, async ({ p, who }) => ({
    model_version: modelVersionJson(await ws.registry.updateVersion(p.requireString('name'), p.requireId('version'), p.optionalString('description', LIMITS.descriptionLength) ?? '', who)),
  }));

  r.delete('/model-versions/delete', { action: 'write', object: byModel() }, async ({ p, who }) => {
    await ws.registry.deleteVersion(p.requireString('name'), p.requireId('version'), who);
    return {};
  });

  r.get('/model-versions/search', { action: 'read', filtered: true }, async ({ p, auth }) => {
    const page = await ws.registry.searchVersions({
      filter: p.optionalString('filter', LIMITS.filterLength),
      orderBy: p.optionalStringArray('order_by', LIMITS.orderByKeys),
      maxResults: p.optionalInt('max_results'),
      pageToken: p.optionalString('page_token'),
    });
    const items = auth.can('read') ? page.items : page.items.filter((v) => auth.can('read', modelObj(v.name)));
    return { model_versions: repeated(items.map(modelVersionJson)), next_page_token: page.nextPageToken };
  });

  r.post('/model-versions/transition-stage', { action: 'write', object: byModel() }, async ({ p, who }) => {
    const version = await ws.registry.transitionStage(
      p.requireString('name'), p.requireId('version'), stageOf(p.requireString('stage')),
      p.optionalBool('archive_existing_versions') ?? false, who,
    );
    return { model_version: modelVersionJson(version) };
  });

  r.get('/model-versions/get-download-uri', { action: 'read', object: byModel() }, async ({ p }) => {
    const version = await ws.registry.getVersion(p.requireString('name'), p.requireId('version'));
    return { artifact_uri: version.source };
  });

  r.post('/model-versions/set-tag', { action: 'write', object: byModel() }, async ({ p, who }) => {
    await ws.registry.setVersionTag(p.requireString('name'), p.requireId('version'), p.requireString('key'), p.optionalString('value') ?? '', who);
    return {};
  });

  r.delete('/model-versions/delete-tag', { action: 'write', object: byModel() }, async ({ p, who }) => {
    await ws.registry.deleteVersionTag(p.requireString('name'), p.requireId('version'), p.requireString('key'), who);
    return {};
  });
}

const STAGES: readonly Stage[] = ['None', 'Staging', 'Production', 'Archived'];

/** Stages are case-insensitive on the wire (`production` is `Production`). */
function stageOf(s: string): Stage {
  const stage = STAGES.find((x) => x.toLowerCase() === s.toLowerCase());
  if (!stage) throw invalid(`Invalid Model Version stage: ${excerpt(s)}. Value must be one of ${STAGES.join(', ')}.`);
  return stage;
}
