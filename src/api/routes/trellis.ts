/** Trellis's own read-only routes: alias/stage history and audit-chain verification. */
import { GENESIS_HASH, verifyAuditChain } from '../../store/audit-chain.js';
import type { Workspace } from '../../workspace/workspace.js';
import { historyJson } from '../mlflow-json.js';
import type { MlflowRouter } from '../router.js';

/** Events per page while verifying: bounded memory on a long chain. */
const AUDIT_PAGE = 1000;

export function trellisRoutes(r: MlflowRouter, ws: Workspace): void {
  r.get('/registered-models/history', async ({ p }) => {
    const history = await ws.registry.history(p.requireString('name'), {
      alias: p.optionalString('alias') || undefined,
      stage: p.optionalString('stage') || undefined,
    });
    return { history: history.map(historyJson) };
  });

  r.get('/audit/verify', async () => {
    let start = { seq: 0, hash: GENESIS_HASH };
    let checked = 0;
    for (;;) {
      const events = await ws.meta.listAuditEvents({ afterSeq: start.seq, limit: AUDIT_PAGE });
      const result = verifyAuditChain(events, start);
      checked += result.checked;
      if (!result.ok) return { ok: false, checked, first_bad: result.firstBad };
      start = result.last;
      if (events.length < AUDIT_PAGE) return { ok: true, checked };
    }
  });
}
