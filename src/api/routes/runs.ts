/** MLflow run lifecycle, search and metric-history routes (spec §1.4). */
import { LIMITS } from '../../store/limits.js';
import type { Workspace } from '../../workspace/workspace.js';
import { metricJson, repeated, runInfoJson, runJson, searchRunsJsonText } from '../mlflow-json.js';
import { RUN_STATUSES, VIEW_TYPES } from '../params.js';
import type { MlflowRouter } from '../router.js';
import { byExperimentId, byRun, experimentObj } from '../route-objects.js';

export function runRoutes(r: MlflowRouter, ws: Workspace): void {
  r.post('/runs/create', { action: 'write', object: byExperimentId('experiment_id', '0') }, async ({ p, who }) => {
    const run = await ws.tracking.createRun({
      experimentId: p.optionalId('experiment_id') || '0',
      userId: p.optionalString('user_id'),
      runName: p.optionalString('run_name', LIMITS.runNameLength),
      startTime: p.optionalInt('start_time'),
      tags: p.optionalTags('tags'),
    }, who);
    return { run: runJson(run) };
  });

  r.get('/runs/get', { action: 'read', object: byRun(ws) }, async ({ p }) => ({ run: runJson(await ws.tracking.getRun(p.runId())) }));

  r.post('/runs/update', { action: 'write', object: byRun(ws) }, async ({ p, who }) => {
    const info = await ws.tracking.updateRun(p.runId(), {
      status: p.optionalEnum('status', RUN_STATUSES),
      endTime: p.optionalInt('end_time'),
      runName: p.optionalString('run_name', LIMITS.runNameLength),
    }, who);
    return { run_info: runInfoJson(info) };
  });

  r.post('/runs/delete', { action: 'write', object: byRun(ws) }, async ({ p, who }) => {
    await ws.tracking.deleteRun(p.runId(), who);
    return {};
  });

  r.post('/runs/restore', { action: 'write', object: byRun(ws) }, async ({ p, who }) => {
    await ws.tracking.restoreRun(p.runId(), who);
    return {};
  });

  r.post('/runs/search', { action: 'read', filtered: true }, async ({ p, reply, auth }) => {
    const asked = p.optionalIdArray('experiment_ids', LIMITS.experimentIds) ?? [];
    // Runs only of the experiments the caller may read; none of them: an empty page, as for unknown ids.
    const experimentIds = auth.can('read') ? asked : asked.filter((id) => auth.can('read', experimentObj(id)));
    if (experimentIds.length === 0 && asked.length > 0) return reply.type('application/json; charset=utf-8').send('{}');
    const page = await ws.tracking.searchRunsEncoded({
      experimentIds,
      filter: p.optionalString('filter', LIMITS.filterLength),
      orderBy: p.optionalStringArray('order_by', LIMITS.orderByKeys),
      maxResults: p.optionalInt('max_results'),
      pageToken: p.optionalString('page_token'),
      viewType: p.optionalEnum('run_view_type', VIEW_TYPES),
    });
    // The runs are JSON text already: the body is sent as written, not serialised again.
    return reply.type('application/json; charset=utf-8').send(searchRunsJsonText(page));
  });

  r.get('/metrics/get-history', { action: 'read', object: byRun(ws) }, async ({ p }) => {
    const page = await ws.tracking.getMetricHistory(p.runId(), p.requireString('metric_key'), {
      maxResults: p.optionalInt('max_results'),
      pageToken: p.optionalString('page_token'),
    });
    return { metrics: repeated(page.items.map(metricJson)), next_page_token: page.nextPageToken };
  });
}
