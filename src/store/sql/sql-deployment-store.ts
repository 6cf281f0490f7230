/**
 * {@link DeploymentStore} in SQL: one row per endpoint holding its current spec as JSON, and one
 * row per revision it went through. Every change is one {@link UnitOfWork.write}: the new spec,
 * the revision kept, and the audit event carrying the routes before and after.
 */
import { TrellisError } from '../../core/errors.js';
import { checkName, excerpt } from '../limits.js';
import type { Actor } from '../ports/common.js';
import type { Deployment, DeploymentChange, DeploymentRevision, DeploymentSpec, DeploymentStore } from '../ports/deployments.js';
import { foldName, jsonCol, num, optStr, text } from './rows.js';
import type { Row, SqlExecutor } from './sql-driver.js';
import type { UnitOfWork } from './unit-of-work.js';

/** An endpoint name: it appears in URLs (`/v2/models/<name>/infer`), so letters, digits, `.`, `_` and `-` only. */
export function checkEndpointName(name: unknown, param = 'name'): string {
  const n = checkName('Endpoint', name, { param, max: 128 });
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(n)) {
    throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Invalid endpoint name '${excerpt(n)}' in '${param}': use letters, digits, '.', '_' and '-', starting with a letter or digit` });
  }
  return n;
}

const MAX_REASON = 2000;

function specJson(s: DeploymentSpec): string {
  return JSON.stringify({ routes: s.routes, ...(s.stickyKey ? { stickyKey: s.stickyKey } : {}), public: s.public === true, ...(s.rollout ? { rollout: s.rollout } : {}) });
}

function deploymentRow(r: Row): Deployment {
  const spec = jsonCol<DeploymentSpec>(r.spec);
  return {
    name: text(r.name), routes: spec.routes, ...(spec.stickyKey ? { stickyKey: spec.stickyKey } : {}), public: spec.public === true,
    ...(spec.rollout ? { rollout: spec.rollout } : {}), revision: num(r.revision), createdAt: num(r.created_at), createdBy: text(r.created_by), updatedAt: num(r.updated_at), updatedBy: text(r.updated_by),
  };
}

function revisionRow(r: Row): DeploymentRevision {
  const spec = jsonCol<DeploymentSpec>(r.spec);
  const reason = optStr(r.reason);
  return {
    name: text(r.name), revision: num(r.revision), routes: spec.routes, ...(spec.stickyKey ? { stickyKey: spec.stickyKey } : {}), public: spec.public === true,
    ...(spec.rollout ? { rollout: spec.rollout } : {}), change: text(r.change), at: num(r.at), by: text(r.by_actor), ...(reason !== undefined ? { reason } : {}),
  };
}

const auditSpec = (d: DeploymentSpec & { revision?: number }) => ({
  revision: d.revision ?? null, routes: d.routes, stickyKey: d.stickyKey ?? null, public: d.public === true,
  ...(d.rollout ? { rollout: { model: d.rollout.model, steps: d.rollout.steps, step: d.rollout.step, slo: d.rollout.sloText } } : {}),
});

function checkReason(reason: string | undefined): string | null {
  if (reason === undefined || reason === '') return null;
  if (typeof reason !== 'string' || reason.length > MAX_REASON) throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Invalid reason: at most ${MAX_REASON} characters` });
  return reason;
}

export class SqlDeploymentStore implements DeploymentStore {
  constructor(private readonly uow: UnitOfWork) {}

  async create(name: string, spec: DeploymentSpec, who: Actor, reason?: string): Promise<Deployment> {
    const n = checkEndpointName(name);
    const why = checkReason(reason);
    return this.uow.write(who, async (tx, audit) => {
      const taken = await this.rowFor(tx, n);
      if (taken) throw new TrellisError('TRELLIS_DEPLOYMENT_EXISTS', { name: excerpt(text(taken.name)) });
      const now = this.uow.now();
      const json = specJson(spec);
      await tx.run('INSERT INTO deployments (name, spec, revision, created_at, created_by, updated_at, updated_by) VALUES (?,?,?,?,?,?,?)', [n, json, 1, now, who.actor, now, who.actor]);
      await tx.run('INSERT INTO deployment_revisions (name, revision, spec, change, reason, at, by_actor) VALUES (?,?,?,?,?,?,?)', [n, 1, json, 'create', why, now, who.actor]);
      const d = deploymentRow((await this.rowFor(tx, n))!);
      await audit('create_deployment', 'deployment', n, null, { ...auditSpec(d), ...(why ? { reason: why } : {}) });
      return d;
    });
  }

  async find(name: string): Promise<Deployment | undefined> {
    if (typeof name !== 'string' || name.length > 512) return undefined;
    const r = await this.rowFor(this.uow.read, name.normalize('NFC').trim());
    return r ? deploymentRow(r) : undefined;
  }

  async list(): Promise<Deployment[]> {
    return (await this.uow.read.query('SELECT * FROM deployments ORDER BY name')).map(deploymentRow);
  }

  async update(name: string, change: DeploymentChange, who: Actor): Promise<Deployment> {
    const why = checkReason(change.reason);
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(change.change)) throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Invalid change kind '${excerpt(change.change)}'` });
    return this.uow.write(who, async (tx, audit) => {
      const r = await this.rowFor(tx, name.normalize('NFC').trim());
      if (!r) throw new TrellisError('TRELLIS_DEPLOYMENT_NOT_FOUND', { name: excerpt(name) });
      const before = deploymentRow(r);
      if (change.expectRevision !== undefined && change.expectRevision !== before.revision) {
        throw new TrellisError('TRELLIS_DEPLOYMENT_CONFLICT', { name: before.name, found: before.revision, expected: change.expectRevision });
      }
      const now = this.uow.now();
      const revision = before.revision + 1;
      const json = specJson(change.spec);
      await tx.run('UPDATE deployments SET spec = ?, revision = ?, updated_at = ?, updated_by = ? WHERE name = ?', [json, revision, now, who.actor, before.name]);
      await tx.run('INSERT INTO deployment_revisions (name, revision, spec, change, reason, at, by_actor) VALUES (?,?,?,?,?,?,?)', [before.name, revision, json, change.change, why, now, who.actor]);
      const after = deploymentRow((await this.rowFor(tx, before.name))!);
      await audit(`${change.change}_deployment`, 'deployment', before.name, auditSpec(before), {
        ...auditSpec(after), ...(why ? { reason: why } : {}), ...(change.evidence ? { evidence: change.evidence } : {}),
      });
      return after;
    });
  }

  async history(name: string, limit = 100): Promise<DeploymentRevision[]> {
    const r = await this.rowFor(this.uow.read, name.normalize('NFC').trim());
    if (!r) throw new TrellisError('TRELLIS_DEPLOYMENT_NOT_FOUND', { name: excerpt(name) });
    const n = Math.max(1, Math.min(1000, Math.floor(limit)));
    return (await this.uow.read.query(`SELECT * FROM deployment_revisions WHERE name = ? ORDER BY revision DESC LIMIT ${n}`, [text(r.name)])).map(revisionRow);
  }

  async delete(name: string, who: Actor): Promise<void> {
    await this.uow.write(who, async (tx, audit) => {
      const r = await this.rowFor(tx, name.normalize('NFC').trim());
      if (!r) throw new TrellisError('TRELLIS_DEPLOYMENT_NOT_FOUND', { name: excerpt(name) });
      const before = deploymentRow(r);
      await tx.run('DELETE FROM deployment_revisions WHERE name = ?', [before.name]);
      await tx.run('DELETE FROM deployments WHERE name = ?', [before.name]);
      await audit('delete_deployment', 'deployment', before.name, auditSpec(before), null);
    });
  }

  async recordDecision(name: string, action: string, evidence: Record<string, unknown>, who: Actor): Promise<void> {
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(action)) throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Invalid decision '${excerpt(action)}'` });
    await this.uow.write(who, async (tx, audit) => {
      const r = await this.rowFor(tx, name.normalize('NFC').trim());
      if (!r) throw new TrellisError('TRELLIS_DEPLOYMENT_NOT_FOUND', { name: excerpt(name) });
      await audit(action, 'deployment', text(r.name), null, { revision: num(r.revision), evidence });
    });
  }

  async acquireLease(lease: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.uow.writeUnaudited(async (tx) => {
      const now = this.uow.now();
      // The condition is part of the UPDATE: of two writers racing for an expired lease, the second
      // re-checks it once the first commits (PostgreSQL) or runs after it (SQLite), and fails.
      await tx.run('UPDATE serving_leases SET holder = ?, expires_at = ? WHERE name = ? AND (holder = ? OR expires_at <= ?)', [holder, now + ttlMs, lease, holder, now]);
      await tx.run('INSERT INTO serving_leases (name, holder, expires_at) VALUES (?,?,?) ON CONFLICT (name) DO NOTHING', [lease, holder, now + ttlMs]);
      const after = await tx.query('SELECT holder FROM serving_leases WHERE name = ?', [lease]);
      return after.length > 0 && text(after[0]!.holder) === holder;
    });
  }

  async watch(onChange: () => void): Promise<(() => Promise<void>) | undefined> {
    const db = this.uow.db;
    return db.listen ? db.listen('trellis_serving', onChange) : undefined;
  }

  /** The row of `name`, compared as names are (NFC, case-insensitively). */
  private async rowFor(ex: SqlExecutor, name: string): Promise<Row | undefined> {
    if (/^[\x00-\x7f]*$/.test(name)) return (await ex.query('SELECT * FROM deployments WHERE lower(name) = lower(?)', [name]))[0];
    const folded = foldName(name);
    return (await ex.query('SELECT * FROM deployments')).find((r) => foldName(text(r.name)) === folded);
  }
}
