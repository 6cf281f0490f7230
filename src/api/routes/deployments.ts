/**
 * Deployments over REST (`/api/2.0/trellis/deployments/...`), as `trellis deployments` and the SDK
 * change them. Creating or changing a deployment needs `deploy` on every model it routes to,
 * before and after the change; reading one needs `read` on its models; lists keep the deployments
 * the caller may read. Every change is an audit event with its actor (the store writes it).
 */
import { invalid } from '../../core/errors.js';
import { parseModelRef } from '../../core/refs.js';
import { abReport, abReportJson } from '../../serving/ab-report.js';
import { modelsOf, specOf, type DeploymentRequest } from '../../serving/deployment-service.js';
import type { Deployment, DeploymentRevision, DeploymentRoute, Rollout } from '../../store/ports/deployments.js';
import { parseSlo, parseSteps, sloText } from '../../serving/rollout.js';
import type { Workspace } from '../../workspace/workspace.js';
import type { Params } from '../params.js';
import type { RequestAuth } from '../request-auth.js';
import { modelObj } from '../route-objects.js';
import type { MlflowRouter } from '../router.js';

/** The A/B report's window when no `since` is given: the last day. */
const REPORT_WINDOW_MS = 86_400_000;

const routeJson = (r: DeploymentRoute) => ({ role: r.role, model: r.model, share: r.share, ...(r.arm ? { arm: r.arm } : {}) });

const rolloutJson = (r: Rollout) => ({
  model: r.model, steps: r.steps, step: r.step, slo: r.sloText, hold_ms: r.holdMs, min_requests: r.minRequests, min_labels: r.minLabels,
  started_at: r.startedAt, step_started_at: r.stepStartedAt, started_by: r.startedBy,
});

export function deploymentJson(d: Deployment): object {
  return {
    name: d.name, revision: d.revision, routes: d.routes.map(routeJson), ...(d.stickyKey ? { sticky_key: d.stickyKey } : {}), public: d.public,
    ...(d.rollout ? { rollout: rolloutJson(d.rollout) } : {}),
    created_at: d.createdAt, created_by: d.createdBy, updated_at: d.updatedAt, updated_by: d.updatedBy,
  };
}

export function revisionJson(r: DeploymentRevision): object {
  return {
    revision: r.revision, change: r.change, at: r.at, by: r.by, ...(r.reason ? { reason: r.reason } : {}),
    routes: r.routes.map(routeJson), ...(r.stickyKey ? { sticky_key: r.stickyKey } : {}), public: r.public === true,
  };
}

/** The model a request's body names first: what the declared access checks before the handler checks them all. */
const firstModel = (p: Params) => {
  const m = p.optionalString('model') ?? p.optionalObjects('ab')?.[0]?.optionalString('model');
  if (m === undefined) return undefined;
  try {
    return modelObj(parseModelRef(m).name);
  } catch {
    return undefined;
  }
};

function requireOnModels(auth: RequestAuth, action: 'deploy' | 'read', names: string[]): void {
  for (const n of names) auth.require(action, modelObj(n));
}

function canary(p: Params): { model: string; share: number } | null | undefined {
  if (!p.has('canary')) return undefined;
  const c = p.requireObject('canary');
  const share = c.requireDouble('share');
  if (share === 0) return null;
  return { model: c.requireString('model'), share };
}

function arms(p: Params): DeploymentRequest['ab'] {
  return p.optionalObjects('ab')?.map((a) => ({ model: a.requireString('model'), share: a.requireDouble('share'), ...(a.has('arm') ? { arm: a.requireString('arm', 32) } : {}) }));
}

export function deploymentRoutes(r: MlflowRouter, ws: Workspace): void {
  const byName = async (p: Params) => {
    const d = await ws.deployments.find(p.requireString('name'));
    return d ? modelObj(parseModelRef(d.routes[0]!.model).name) : undefined;
  };
  const deployAccess = { action: 'deploy', object: (_req: unknown, p: Params) => byName(p) } as const;
  const readAccess = { action: 'read', object: (_req: unknown, p: Params) => byName(p) } as const;

  r.get('/deployments/list', { action: 'read', filtered: true }, async ({ auth }) => {
    const all = await ws.deployments.list();
    return { deployments: all.filter((d) => modelsOf(d).every((m) => auth.can('read', modelObj(m)))).map(deploymentJson) };
  });

  r.get('/deployments/get', readAccess, async ({ p, auth }) => {
    const d = await ws.deployments.get(p.requireString('name'));
    requireOnModels(auth, 'read', modelsOf(d));
    return { deployment: deploymentJson(d) };
  });

  r.get('/deployments/history', readAccess, async ({ p, auth }) => {
    const d = await ws.deployments.get(p.requireString('name'));
    requireOnModels(auth, 'read', modelsOf(d));
    const limit = p.optionalInt('max_results');
    return { revisions: (await ws.deployments.history(d.name, limit)).map(revisionJson) };
  });

  r.get('/deployments/report', readAccess, async ({ p, auth }) => {
    const d = await ws.deployments.get(p.requireString('name'));
    requireOnModels(auth, 'read', modelsOf(d));
    const until = p.optionalInt('until') ?? Date.now();
    const since = p.optionalInt('since') ?? until - REPORT_WINDOW_MS;
    if (since >= until) throw invalid(`'since' (${since}) must be before 'until' (${until}): both are milliseconds since the epoch`);
    return { report: abReportJson(await abReport(ws.predictions, d, { since, until })) };
  });

  r.post('/deployments/create', { action: 'deploy', object: (_req, p) => firstModel(p) }, async ({ p, who, auth }) => {
    const req: DeploymentRequest = {
      ...(p.has('model') ? { model: p.requireString('model') } : {}),
      ...(p.has('shadow') ? { shadow: p.requireString('shadow') } : {}),
      ...(p.has('sticky_key') ? { stickyKey: p.requireString('sticky_key', 200) } : {}),
      ...(p.has('public') ? { public: p.optionalBool('public') } : {}),
    };
    const c = canary(p);
    if (c) req.canary = c;
    const ab = arms(p);
    if (ab) req.ab = ab;
    requireOnModels(auth, 'deploy', modelsOf(specOf(req)));
    return { deployment: deploymentJson(await ws.deployments.create(p.requireString('name'), req, who, p.optionalString('reason', 2000))) };
  });

  r.post('/deployments/set-traffic', deployAccess, async ({ p, who, auth }) => {
    const d = await ws.deployments.get(p.requireString('name'));
    requireOnModels(auth, 'deploy', modelsOf(d));
    const c = canary(p);
    const ab = arms(p);
    const shadow = p.has('shadow') ? (p.optionalString('shadow') || null) : undefined;
    if (c === undefined && ab === undefined && shadow === undefined && !p.has('sticky_key') && !p.has('public')) {
      throw invalid('Nothing to change: give canary, shadow, ab, sticky_key or public');
    }
    const touched = [...(c ? [c.model] : []), ...(ab ?? []).map((a) => a.model), ...(shadow ? [shadow] : [])].map((m) => parseModelRef(m).name);
    requireOnModels(auth, 'deploy', touched);
    return {
      deployment: deploymentJson(await ws.deployments.setTraffic(d.name, {
        ...(c !== undefined ? { canary: c } : {}), ...(ab ? { ab } : {}), ...(shadow !== undefined ? { shadow } : {}),
        ...(p.has('sticky_key') ? { stickyKey: p.requireString('sticky_key', 200) } : {}), ...(p.has('public') ? { public: p.optionalBool('public') } : {}),
      }, who, p.optionalString('reason', 2000))),
    };
  });

  r.post('/deployments/promote', deployAccess, async ({ p, who, auth }) => {
    const d = await ws.deployments.get(p.requireString('name'));
    requireOnModels(auth, 'deploy', modelsOf(d));
    return { deployment: deploymentJson(await ws.deployments.promote(d.name, who, { arm: p.optionalString('arm', 32), reason: p.optionalString('reason', 2000) })) };
  });

  r.post('/deployments/rollback', deployAccess, async ({ p, who, auth }) => {
    const d = await ws.deployments.get(p.requireString('name'));
    requireOnModels(auth, 'deploy', modelsOf(d));
    // A rollback returns to routes someone allowed to deploy them had set.
    return { deployment: deploymentJson(await ws.deployments.rollback(d.name, who, { reason: p.optionalString('reason', 2000) })) };
  });

  r.post('/deployments/rollout', deployAccess, async ({ p, who, auth }) => {
    const d = await ws.deployments.get(p.requireString('name'));
    const model = p.requireString('model');
    requireOnModels(auth, 'deploy', [...modelsOf(d), parseModelRef(model).name]);
    const slo = parseSlo(p.requireString('slo', 1000));
    const int = (name: string, def: number) => {
      const v = p.optionalInt(name);
      if (v !== undefined && (v < 0 || !Number.isSafeInteger(v))) throw invalid(`'${name}' must be a whole number of 0 or more`);
      return v ?? def;
    };
    return {
      deployment: deploymentJson(await ws.deployments.startRollout(d.name, {
        model, steps: parseSteps(p.optionalString('steps', 200) ?? '5,25,50,100'), holdMs: int('hold_ms', 600_000), slo, sloText: sloText(slo),
        minRequests: int('min_requests', 100), minLabels: int('min_labels', 50),
      }, who)),
    };
  });

  r.post('/deployments/delete', deployAccess, async ({ p, who, auth }) => {
    const d = await ws.deployments.get(p.requireString('name'));
    requireOnModels(auth, 'deploy', modelsOf(d));
    await ws.deployments.delete(d.name, who);
    return {};
  });
}
