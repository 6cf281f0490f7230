/**
 * Trellis's own read-only routes: alias/stage history, lineage, the audit trail and its
 * verification, and a model version's files with the digests recorded when it was created.
 */
import { invalid } from '../../core/errors.js';
import { excerpt } from '../../store/limits.js';
import { DEFAULT_LINEAGE_DEPTH } from '../../registry/lineage.js';
import type { Workspace } from '../../workspace/workspace.js';
import { contentDisposition } from '../download.js';
import { historyJson } from '../mlflow-json.js';
import type { MlflowRouter } from '../router.js';
import type { AuditEvent } from '../../store/ports/audit.js';
import { byLineageStart, byModel } from '../route-objects.js';

const DEFAULT_AUDIT_EVENTS = 100;
const MAX_AUDIT_EVENTS = 10_000;

function auditEventJson(e: AuditEvent): object {
  return {
    seq: e.seq, time: e.time, actor: e.actor, action: e.action, entity_type: e.entityType, entity_id: e.entityId,
    before: e.before, after: e.after, prev_hash: e.prevHash, hash: e.hash,
  };
}

export function trellisRoutes(r: MlflowRouter, ws: Workspace): void {
  r.get('/registered-models/history', { action: 'read', object: byModel() }, async ({ p }) => {
    const history = await ws.registry.history(p.requireString('name'), {
      alias: p.optionalString('alias') || undefined,
      stage: p.optionalString('stage') || undefined,
    });
    return { history: history.map(historyJson) };
  });

  // The digests recorded for a version's files; null for a version created before they were recorded.
  r.get('/model-versions/files', { action: 'read', object: byModel() }, async ({ p }) => {
    const files = await ws.registry.versionFiles(p.requireString('name'), p.requireId('version'));
    return { files: files ? files.map((f) => ({ path: f.path, sha256: f.sha256, size: f.size })) : null };
  });

  // A file of a version, checked against its recorded digest before any byte goes out.
  r.get('/model-versions/file', { action: 'read', object: byModel() }, async ({ p, reply }) => {
    const v = await ws.registry.getVersion(p.requireString('name'), p.requireId('version'));
    const path = p.requireString('path');
    const data = await ws.registry.readVersionFile(v, path);
    return reply
      .type('application/octet-stream')
      .header('content-disposition', contentDisposition(path.slice(path.lastIndexOf('/') + 1)))
      .header('x-content-type-options', 'nosniff')
      .send(data);
  });

  r.get('/lineage', { action: 'read', object: byLineageStart }, async ({ p }) => {
    const model = p.optionalString('model');
    const dataset = p.optionalString('dataset');
    const version = p.optionalString('version');
    const alias = p.optionalString('alias');
    const rawDepth = p.optionalString('depth');
    const text = p.optionalString('ref');
    if (text !== undefined) {
      // A reference as the CLI takes it (`bike@3`, `model:bike@champion`), resolved as the CLI resolves it.
      if (model !== undefined || dataset !== undefined || version !== undefined || alias !== undefined) {
        throw invalid("Parameter 'ref' names the version by itself: send it without 'model', 'dataset', 'version' and 'alias'");
      }
      if (rawDepth !== undefined && !/^\d+$/.test(rawDepth)) throw invalid(`Invalid value '${excerpt(rawDepth)}' for parameter 'depth': it must be a whole number of at least 0`);
      return ws.pipelines.lineage(text, { depth: rawDepth === undefined ? DEFAULT_LINEAGE_DEPTH : Number(rawDepth) });
    }
    if (!model === !dataset) throw invalid("Send exactly one of the parameters 'model' and 'dataset' (or 'ref')");
    if (dataset !== undefined && alias !== undefined) throw invalid("Parameter 'alias' applies to a model, not a dataset");
    if (model !== undefined && (version === undefined) === (alias === undefined)) throw invalid("Send exactly one of the parameters 'version' and 'alias' with 'model'");
    if (version !== undefined && version !== 'latest' && !/^[1-9]\d*$/.test(version)) {
      throw invalid(`Invalid value '${excerpt(version)}' for parameter 'version': it must be a positive whole number or 'latest'`);
    }
    if (rawDepth !== undefined && !/^\d+$/.test(rawDepth)) throw invalid(`Invalid value '${excerpt(rawDepth)}' for parameter 'depth': it must be a whole number of at least 0`);
    const depth = rawDepth === undefined ? DEFAULT_LINEAGE_DEPTH : Number(rawDepth);
    const ref = model !== undefined
      ? { kind: 'model' as const, name: model, ...(alias !== undefined ? { alias } : { version }) }
      : { kind: 'dataset' as const, name: dataset!, version: version === undefined || version === 'latest' ? undefined : Number(version) };
    return ws.pipelines.lineage(ref, { depth });
  });

  // The trail names every object and actor: administrators only.
  r.get('/audit/events', { action: 'admin' }, async ({ p }) => {
    const limit = p.optionalInt('limit');
    if (limit !== undefined && (limit < 1 || limit > MAX_AUDIT_EVENTS)) throw invalid(`Invalid value ${limit} for parameter 'limit': it must be between 1 and ${MAX_AUDIT_EVENTS}`);
    const afterSeq = p.optionalInt('after_seq');
    if (afterSeq !== undefined && afterSeq < 0) throw invalid(`Invalid value ${afterSeq} for parameter 'after_seq': it must be a whole number of at least 0`);
    const since = p.optionalInt('since');
    if (since !== undefined && since < 0) throw invalid(`Invalid value ${since} for parameter 'since': it must be a time in milliseconds since the epoch`);
    const events = await ws.audit.events({
      afterSeq, since, limit: limit ?? DEFAULT_AUDIT_EVENTS, newestFirst: p.optionalBool('newest_first') ?? false,
      entityType: p.optionalString('entity_type') || undefined, entityId: p.optionalString('entity_id') || undefined,
      entityIdPrefix: p.optionalString('entity_id_prefix') || undefined, action: p.optionalString('action') || undefined,
    });
    return { events: events.map(auditEventJson) };
  });

  r.get('/audit/verify', { action: 'admin' }, async () => {
    const v = await ws.audit.verify();
    return {
      ok: v.ok, checked: v.checked, ...(v.checkpoints !== undefined ? { checkpoints: v.checkpoints } : {}),
      ...(v.firstBad ? { first_bad: v.firstBad } : {}), ...(v.problems?.length ? { problems: v.problems } : {}),
    };
  });
}
