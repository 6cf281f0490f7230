/**
 * Deployed pipelines over HTTP, under the Trellis prefixes: publish a package as a pipeline
 * version, list versions and pipelines, ask for a run (an `api` trigger record) and list trigger
 * records. A published package is verified in full; a refusal is a 400 naming the field.
 */
import type { FastifyRequest } from 'fastify';
import { TrellisError, invalid } from '../../core/errors.js';
import type { DeploymentChange, PipelineDeployment, PipelineVersion } from '../../store/ports/pipelines.js';
import type { TriggerRecord, TriggerStatus } from '../../store/ports/triggers.js';
import type { Workspace } from '../../workspace/workspace.js';
import { isPlainObject, show } from '../params.js';
import { parseJsonBody, type MlflowRouter } from '../router.js';
import { packageCarriesUserCode } from '../../workspace/pipeline-service.js';
import { byPipeline, byRun, pipelineObj } from '../route-objects.js';

const STATUSES: readonly TriggerStatus[] = ['pending', 'running', 'finished', 'failed', 'skipped', 'cancelled'];

export function pipelineVersionJson(v: PipelineVersion): object {
  return {
    name: v.name, version: v.version, ir_version: v.irVersion, package_sha256: v.packageSha256, ir_hash: v.irHash,
    location: v.location, triggers: v.triggers, concurrency: v.concurrency, created_by: v.createdBy, created_at: v.createdAt,
  };
}

export function deploymentJson(d: PipelineDeployment): object {
  return {
    name: d.name, active_version: d.active, latest_version: d.latest, pinned_version: d.pinned, paused: d.paused, undeployed: d.undeployed,
    withdrawn_versions: d.withdrawn, changed_at: d.changedAt, changed_by: d.changedBy,
  };
}

export function triggerJson(t: TriggerRecord): object {
  return {
    id: t.id, pipeline: t.pipeline, kind: t.kind, reason: t.reason, params: t.params, dedupe_key: t.dedupeKey, status: t.status,
    created_at: t.createdAt, updated_at: t.updatedAt, requested_by: t.requestedBy, claimed_by: t.claimedBy, claimed_at: t.claimedAt,
    heartbeat_at: t.heartbeatAt, version: t.version, run_id: t.runId, detail: t.detail,
  };
}

/** The JSON body as it came (the router has checked its Content-Type): a package or a trigger request is a document, not MLflow fields. */
function body(req: FastifyRequest): Record<string, unknown> {
  return Buffer.isBuffer(req.body) ? parseJsonBody(req.body) : {};
}

export function pipelineRoutes(r: MlflowRouter, ws: Workspace): void {
  // A package that runs commands or TypeScript takes pipeline-deployer on the pipeline; built-ins only, contributor.
  r.post('/pipelines/versions', { action: 'write', object: byPipeline() }, async ({ req, who, auth }) => {
    const pkg = body(req);
    if (packageCarriesUserCode(pkg)) auth.require('deploy-pipeline', pipelineObj(String(pkg.name)));
    const { version, created } = await ws.pipelines.publish(pkg, who);
    return { pipeline_version: pipelineVersionJson(version), created };
  });

  r.get('/pipelines/versions', { action: 'read', object: byPipeline() }, async ({ p }) => {
    const versions = await ws.pipelines.versions(p.requireString('name'));
    return { pipeline_versions: versions.map(pipelineVersionJson) };
  });

  r.get('/pipelines/list', { action: 'read', filtered: true }, async ({ auth }) => ({
    pipelines: (await ws.pipelines.list()).filter((v) => auth.can('read', pipelineObj(v.name))).map(pipelineVersionJson),
  }));

  // Why a step of a pipeline run was (not) served from cache, as `trellis pipelines why` says it.
  r.get('/pipelines/why', { action: 'read', object: byRun(ws) }, async ({ p }) => {
    const e = await ws.pipelines.explainCache(p.requireId('run_id'), p.requireString('step'));
    return {
      explanation: {
        pipeline_run: e.pipelineRun, step: e.step, step_run: e.stepRun, verdict: e.verdict, reason: e.reason,
        ...(e.comparedWith ? { compared_with: e.comparedWith } : {}), changes: e.changes,
      },
    };
  });

  r.get('/pipelines/deployments', { action: 'read', filtered: true }, async ({ auth }) => ({
    deployments: (await ws.pipelines.deployments()).filter((d) => auth.can('read', pipelineObj(d.name))).map(deploymentJson),
  }));

  r.get('/pipelines/deployment', { action: 'read', object: byPipeline() }, async ({ p }) => ({ deployment: deploymentJson(await ws.pipelines.deployment(p.requireString('name'))) }));

  // Pause or resume its triggers, undeploy it (or one version), roll it back: `{ "name": …, "version": … }`.
  for (const action of ['pause', 'resume-triggers', 'undeploy', 'rollback'] as const) {
    // Changing what runs, and when, is the deployer's: pipeline-deployer on the pipeline.
    r.post(`/pipelines/${action}`, { action: 'deploy-pipeline', object: byPipeline() }, async ({ req, who }) => {
      const b = body(req);
      if (typeof b.name !== 'string' || !b.name) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'name' });
      const v = b.version;
      if (v !== undefined && v !== null && !(typeof v === 'number' && Number.isInteger(v) && v >= 1) && !(typeof v === 'string' && /^[1-9][0-9]{0,15}$/.test(v))) {
        throw invalid(`Invalid value ${show(v)} for parameter 'version': expected a version number`);
      }
      const version = v === undefined || v === null ? undefined : Number(v);
      if (action === 'rollback' && version === undefined) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'version' });
      if ((action === 'pause' || action === 'resume-triggers') && version !== undefined) throw invalid(`'${action}' applies to the pipeline, not to a version: leave out 'version'`);
      const change = (action === 'rollback' ? { action, version } : action === 'undeploy' ? { action, ...(version ? { version } : {}) } : { action }) as DeploymentChange;
      return { deployment: deploymentJson(await ws.pipelines.changeDeployment(b.name, change, who)) };
    });
  }

  // Running a pipeline is a contributor's; running one that carries user code, a pipeline-deployer's.
  r.post('/pipelines/trigger', { action: 'write', object: byPipeline('pipeline') }, async ({ req, who, auth }) => {
    const b = body(req);
    const pipeline = b.pipeline;
    if (typeof pipeline !== 'string' || !pipeline) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'pipeline' });
    if (!auth.can('deploy-pipeline', pipelineObj(pipeline)) && (await ws.pipelines.carriesUserCode(pipeline))) auth.require('deploy-pipeline', pipelineObj(pipeline));
    if (b.params !== undefined && b.params !== null && !isPlainObject(b.params)) throw invalid(`Invalid value ${show(b.params)} for parameter 'params': expected an object of parameter values`);
    for (const f of ['reason', 'dedupe_key'] as const) {
      if (b[f] !== undefined && b[f] !== null && typeof b[f] !== 'string') throw invalid(`Invalid value ${show(b[f])} for parameter '${f}': expected a string`);
    }
    const { trigger, created } = await ws.pipelines.requestTrigger({
      pipeline, params: b.params ?? undefined,
      reason: (b.reason ?? undefined) as string | undefined, dedupeKey: (b.dedupe_key ?? undefined) as string | undefined,
    }, who);
    return { trigger: triggerJson(trigger), created };
  });

  r.get('/pipelines/triggers', { action: 'read', filtered: true }, async ({ p, auth }) => {
    const status = p.optionalString('status') || undefined;
    if (status !== undefined && !STATUSES.includes(status as TriggerStatus)) {
      throw invalid(`Invalid value '${show(status)}' for parameter 'status': it must be one of ${STATUSES.join(', ')}`);
    }
    const triggers = await ws.pipelines.triggers({
      pipeline: p.optionalString('pipeline') || undefined, status: status as TriggerStatus | undefined, limit: p.optionalInt('limit') ?? 100,
    });
    return { triggers: triggers.filter((t) => auth.can('read', pipelineObj(t.pipeline))).map(triggerJson) };
  });
}
