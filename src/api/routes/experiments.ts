/** MLflow experiment routes (spec §1.4). */
import type { Workspace } from '../../workspace/workspace.js';
import { LIMITS } from '../../store/limits.js';
import type { Experiment } from '../../store/ports/tracking.js';
import type { Page, ViewType } from '../../store/ports/common.js';
import { experimentJson, repeated } from '../mlflow-json.js';
import { VIEW_TYPES } from '../params.js';
import type { MlflowRouter } from '../router.js';
import type { RequestAuth } from '../request-auth.js';
import { byExperimentId, byExperimentName, experimentObj } from '../route-objects.js';

export function experimentRoutes(r: MlflowRouter, ws: Workspace): void {
  r.post('/experiments/create', { action: 'write' }, async ({ p, who }) => {
    const name = p.requireString('name');
    const id = await ws.tracking.createExperiment(name, { artifactLocation: p.optionalString('artifact_location'), tags: p.optionalTags('tags') }, who);
    return { experiment_id: id };
  });

  r.get('/experiments/get', { action: 'read', object: byExperimentId() }, async ({ p }) => ({ experiment: experimentJson(await ws.tracking.getExperiment(p.requireId('experiment_id'))) }));

  r.get('/experiments/get-by-name', { action: 'read', object: byExperimentName(ws, 'experiment_name') }, async ({ p }) => ({
    experiment: experimentJson(await ws.tracking.getExperimentByName(p.requireString('experiment_name'))),
  }));

  r.route(['GET', 'POST'], '/experiments/search', { action: 'read', filtered: true }, async ({ p, auth }) => experimentsPage(auth, await ws.tracking.searchExperiments({
    filter: p.optionalString('filter', LIMITS.filterLength),
    orderBy: p.optionalStringArray('order_by', LIMITS.orderByKeys),
    maxResults: p.optionalInt('max_results'),
    pageToken: p.optionalString('page_token'),
    viewType: p.optionalEnum('view_type', VIEW_TYPES),
  })));

  // MLflow 1.x: without max_results it returned every experiment, so page through them all here.
  r.get('/experiments/list', { action: 'read', filtered: true }, async ({ p, auth }) => {
    const viewType = p.optionalEnum('view_type', VIEW_TYPES);
    const maxResults = p.optionalInt('max_results');
    const pageToken = p.optionalString('page_token');
    if (maxResults !== undefined) return experimentsPage(auth, await ws.tracking.searchExperiments({ viewType, maxResults, pageToken }));
    return experimentsPage(auth, await allExperiments(ws, viewType, pageToken));
  });

  r.post('/experiments/delete', { action: 'write', object: byExperimentId() }, async ({ p, who }) => {
    await ws.tracking.deleteExperiment(p.requireId('experiment_id'), who);
    return {};
  });

  r.post('/experiments/restore', { action: 'write', object: byExperimentId() }, async ({ p, who }) => {
    await ws.tracking.restoreExperiment(p.requireId('experiment_id'), who);
    return {};
  });

  r.post('/experiments/update', { action: 'write', object: byExperimentId() }, async ({ p, who }) => {
    await ws.tracking.renameExperiment(p.requireId('experiment_id'), p.requireString('new_name'), who);
    return {};
  });

  r.post('/experiments/set-experiment-tag', { action: 'write', object: byExperimentId() }, async ({ p, who }) => {
    await ws.tracking.setExperimentTag(p.requireId('experiment_id'), p.requireString('key'), p.optionalString('value', LIMITS.experimentTagValueBytes) ?? '', who);
    return {};
  });

  r.post('/experiments/delete-experiment-tag', { action: 'write', object: byExperimentId() }, async ({ p, who }) => {
    await ws.tracking.deleteExperimentTag(p.requireId('experiment_id'), p.requireString('key'), who);
    return {};
  });
}

/** A page of experiments, keeping those the caller may read (a short page keeps its token: the next one may hold more). */
function experimentsPage(auth: RequestAuth, page: Page<Experiment>): object {
  const items = auth.can('read') ? page.items : page.items.filter((e) => auth.can('read', experimentObj(e.experimentId)));
  return { experiments: repeated(items.map(experimentJson)), next_page_token: page.nextPageToken };
}

async function allExperiments(ws: Workspace, viewType: ViewType | undefined, pageToken: string | undefined): Promise<Page<Experiment>> {
  const items: Experiment[] = [];
  let token = pageToken;
  do {
    const page = await ws.tracking.searchExperiments({ viewType, maxResults: LIMITS.searchMaxResults, pageToken: token });
    items.push(...page.items);
    token = page.nextPageToken;
  } while (token);
  return { items };
}
