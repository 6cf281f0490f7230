/** Trellis's own read-only routes: alias/stage history and audit-chain verification. */
import { verifyStoredChain } from '../../store/audit-chain.js';
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

  r.get('/audit/verify', async () => {
    const v = await verifyStoredChain((q) => ws.meta.listAuditEvents(q));
    return v.ok ? { ok: true, checked: v.checked } : { ok: false, checked: v.checked, first_bad: v.firstBad };
  });
}
