/** MLflow experiment routes (spec §1.4). */
import type { Workspace } from '../../workspace/workspace.js';
import { LIMITS } from '../../store/limits.js';
import type { Experiment } from '../../store/ports/tracking.js';
import type { Page, ViewType } from '../../store/ports/common.js';
import { experimentJson, repeated } from '../mlflow-json.js';
import { VIEW_TYPES } from '../params.js';
import type { MlflowRouter } from '../router.js';

export function experimentRoutes(r: MlflowRouter, ws: Workspace): void {
  r.post('/experiments/create', async ({ p, who }) => {
    const name = p.requireString('name');
    const id = await ws.tracking.createExperiment(name, { artifactLocation: p.optionalString('artifact_location'), tags: p.optionalTags('tags') }, who);
    return { experiment_id: id };
  });

  r.get('/experiments/get', async ({ p }) => ({ experiment: experimentJson(await ws.tracking.getExperiment(p.requireId('experiment_id'))) }));

  r.get('/experiments/get-by-name', async ({ p }) => ({
    experiment: experimentJson(await ws.tracking.getExperimentByName(p.requireString('experiment_name'))),
  }));

  r.route(['GET', 'POST'], '/experiments/search', async ({ p }) => experimentsPage(await ws.tracking.searchExperiments({
    filter: p.optionalString('filter', LIMITS.filterLength),
    orderBy: p.optionalStringArray('order_by', LIMITS.orderByKeys),
    maxResults: p.optionalInt('max_results'),
    pageToken: p.optionalString('page_token'),
    viewType: p.optionalEnum('view_type', VIEW_TYPES),
  })));

  // MLflow 1.x: without max_results it returned every experiment, so page through them all here.
  r.get('/experiments/list', async ({ p }) => {
    const viewType = p.optionalEnum('view_type', VIEW_TYPES);
    const maxResults = p.optionalInt('max_results');
    const pageToken = p.optionalString('page_token');
    if (maxResults !== undefined) return experimentsPage(await ws.tracking.searchExperiments({ viewType, maxResults, pageToken }));
    return experimentsPage(await allExperiments(ws, viewType, pageToken));
  });

  r.post('/experiments/delete', async ({ p, who }) => {
    await ws.tracking.deleteExperiment(p.requireId('experiment_id'), who);
    return {};
  });

  r.post('/experiments/restore', async ({ p, who }) => {
    await ws.tracking.restoreExperiment(p.requireId('experiment_id'), who);
    return {};
  });

  r.post('/experiments/update', async ({ p, who }) => {
    await ws.tracking.renameExperiment(p.requireId('experiment_id'), p.requireString('new_name'), who);
    return {};
  });

  r.post('/experiments/set-experiment-tag', async ({ p, who }) => {
    await ws.tracking.setExperimentTag(p.requireId('experiment_id'), p.requireString('key'), p.optionalString('value', LIMITS.experimentTagValueBytes) ?? '', who);
    return {};
  });

  r.post('/experiments/delete-experiment-tag', async ({ p, who }) => {
    await ws.tracking.deleteExperimentTag(p.requireId('experiment_id'), p.requireString('key'), who);
    return {};
  });
}

function experimentsPage(page: Page<Experiment>): object {
  return { experiments: repeated(page.items.map(experimentJson)), next_page_token: page.nextPageToken };
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
