/** Trellis's own read-only routes: alias/stage history, lineage and audit-chain verification. */
import { invalid } from '../../core/errors.js';
import { DEFAULT_LINEAGE_DEPTH } from '../../registry/lineage.js';
import type { Workspace } from '../../workspace/workspace.js';
import { historyJson } from '../mlflow-json.js';
import type { MlflowRouter } from '../router.js';

export function trellisRoutes(r: MlflowRouter, ws: Workspace): void {
  r.get('/registered-models/history', async ({ p }) => {
    const history = await ws.registry.history(p.requireString('name'), {
      alias: p.optionalString('alias') || undefined,
      stage: p.optionalString('stage') || undefined,
    });
    return { history: history.map(historyJson) };
  });

  r.get('/lineage', async ({ p }) => {
    const model = p.optionalString('model');
    const dataset = p.optionalString('dataset');
    const version = p.optionalString('version');
    const alias = p.optionalString('alias');
    const rawDepth = p.optionalString('depth');
    if (!model === !dataset) throw invalid("Send exactly one of the parameters 'model' and 'dataset'");
    if (dataset !== undefined && alias !== undefined) throw invalid("Parameter 'alias' applies to a model, not a dataset");
    if (model !== undefined && (version === undefined) === (alias === undefined)) throw invalid("Send exactly one of the parameters 'version' and 'alias' with 'model'");
    if (version !== undefined && version !== 'latest' && !/^[1-9]\d*$/.test(version)) {
      throw invalid(`Invalid value '${version}' for parameter 'version': it must be a positive whole number or 'latest'`);
    }
    if (rawDepth !== undefined && !/^\d+$/.test(rawDepth)) throw invalid(`Invalid value '${rawDepth}' for parameter 'depth': it must be a whole number of at least 0`);
    const depth = rawDepth === undefined ? DEFAULT_LINEAGE_DEPTH : Number(rawDepth);
    const ref = model !== undefined
      ? { kind: 'model' as const, name: model, ...(alias !== undefined ? { alias } : { version }) }
      : { kind: 'dataset' as const, name: dataset!, version: version === undefined || version === 'latest' ? undefined : Number(version) };
    return ws.pipelines.lineage(ref, { depth });
  });

  r.get('/audit/verify', async () => {
    const v = await ws.audit.verify();
    return v.ok ? { ok: true, checked: v.checked } : { ok: false, checked: v.checked, first_bad: v.firstBad };
  });
}
