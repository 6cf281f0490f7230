/**
 * {@link PipelineStore} in SQL: published pipeline versions, and the pipeline run records the
 * engine keeps. Every write is one {@link UnitOfWork.write} with its audit event.
 */
import { TrellisError, invalid } from '../../core/errors.js';
import { excerpt } from '../limits.js';
import type { Actor } from '../ports/common.js';
import type { CreatePipelineVersionInput, DeploymentChange, PipelineDeployment, PipelineStore, PipelineVersion } from '../ports/pipelines.js';
import { jsonCol, num } from './rows.js';
import type { Row, SqlExecutor } from './sql-driver.js';
import { SqlPipelineRuns } from './sql-pipeline-runs.js';

export const CONCURRENCY_POLICIES = ['skip', 'queue', 'cancel-previous'] as const;

const PIPELINE_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const SHA256 = /^[0-9a-f]{64}$/;
const MAX_TEXT = 8000;

/** A pipeline name as every pipeline record (versions, triggers, runs) accepts it. */
export function checkPipelineName(name: unknown): string {
  if (typeof name !== 'string' || !name) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'pipeline' });
  if (!PIPELINE_NAME.test(name) || name.length > 255) {
    throw invalid(`Invalid pipeline name '${name.slice(0, 100)}': letters, digits, '_' and '-', starting with a letter or '_' (at most 255)`);
  }
  return name;
}

/** An optional bounded text field; the error names the field. */
export function checkText(field: string, v: unknown, max = MAX_TEXT): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(`Invalid ${field}: expected a string`);
  if (v.length > max) throw invalid(`Invalid ${field}: longer than ${max} characters`);
  return v;
}

function versionRow(r: Row): PipelineVersion {
  return {
    name: String(r.name), version: num(r.version), irVersion: String(r.ir_version), packageSha256: String(r.package_sha256),
    irHash: String(r.ir_hash), location: String(r.location), triggers: jsonCol<unknown[]>(r.triggers_json),
    concurrency: String(r.concurrency), createdBy: String(r.created_by), createdAt: num(r.created_at),
  };
}

/** A pipeline's deployment from its version numbers (ascending) and its row, if it has one yet. */
function deploymentOf(name: string, versions: number[], row: Row | undefined): PipelineDeployment {
  const withdrawn = row ? jsonCol<number[]>(row.withdrawn_json) : [];
  const pinned = row?.pinned === null || row?.pinned === undefined ? null : num(row.pinned);
  const undeployed = !!row && num(row.undeployed) === 1;
  const serving = versions.filter((v) => !withdrawn.includes(v));
  return {
    name, latest: versions[versions.length - 1] ?? 0, pinned, paused: !!row && num(row.paused) === 1, undeployed, withdrawn,
    active: undeployed ? null : pinned ?? serving[serving.length - 1] ?? null,
    changedAt: row ? num(row.changed_at) : null, changedBy: row ? String(row.changed_by) : null,
  };
}

const DEPLOYMENT_EVENTS: Record<DeploymentChange['action'], string> = {
  pause: 'pause_pipeline', 'resume-triggers': 'resume_pipeline_triggers', undeploy: 'undeploy_pipeline', rollback: 'rollback_pipeline',
};

/** Pipeline versions here; pipeline runs, step runs, edges and leases in {@link SqlPipelineRuns}. */
export class SqlPipelineStore extends SqlPipelineRuns implements PipelineStore {

  // ------------------------------------------------------------------ pipeline versions

  async createPipelineVersion(input: CreatePipelineVersionInput, who: Actor): Promise<{ version: PipelineVersion; created: boolean }> {
    const name = checkPipelineName(input.name);
    if (!SHA256.test(String(input.packageSha256))) throw invalid(`Invalid package sha256 '${String(input.packageSha256).slice(0, 100)}': expected 64 hex digits`);
    if (!SHA256.test(String(input.irHash))) throw invalid(`Invalid IR hash '${String(input.irHash).slice(0, 100)}': expected 64 hex digits`);
    const location = checkText('location', input.location, 1024);
    if (!location) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'location' });
    const irVersion = checkText('IR version', input.irVersion, 255) ?? '1';
    const concurrency = input.concurrency ?? 'queue';
    if (!(CONCURRENCY_POLICIES as readonly string[]).includes(concurrency)) {
      throw invalid(`Invalid concurrency policy '${concurrency}': must be one of ${CONCURRENCY_POLICIES.join(', ')}`);
    }
    const triggers = input.triggers ?? [];
    if (!Array.isArray(triggers)) throw invalid('Invalid triggers: expected a list');
    return this.uow.write(who, async (tx, audit) => {
      const same = await tx.query('SELECT * FROM pipeline_versions WHERE name = ? AND package_sha256 = ?', [name, input.packageSha256]);
      if (same[0]) {
        const existing = versionRow(same[0]);
        // Deployed again: it runs again, whatever a rollback or an undeploy said since.
        const before = await this.deploymentIn(tx, name);
        if (before.active !== existing.version || before.withdrawn.includes(existing.version)) {
          const pin = existing.version === before.latest ? null : existing.version;
          await this.writeDeployment(tx, name, { ...before, pinned: pin, undeployed: false, withdrawn: before.withdrawn.filter((v) => v !== existing.version) }, who);
          await audit('deploy_pipeline_version', 'pipeline', name, { active: before.active }, { active: existing.version });
        }
        return { version: existing, created: false };
      }
      const [last] = await tx.query<{ v: number | null }>('SELECT MAX(version) AS v FROM pipeline_versions WHERE name = ?', [name]);
      const version = Number(last?.v ?? 0) + 1;
      const now = this.uow.now();
      await tx.run(
        `INSERT INTO pipeline_versions (name, version, ir_version, package_sha256, ir_hash, location, triggers_json, concurrency, created_by, created_at)
         VALUES (?,?,?,?,?,?,?,?,?,?)`,
        [name, version, irVersion, input.packageSha256, input.irHash, location, JSON.stringify(triggers), concurrency, who.actor, now],
      );
      await audit('create_pipeline_version', 'pipeline_version', `${name}/${version}`, null, {
        name, version, irVersion, packageSha256: input.packageSha256, irHash: input.irHash, location, triggers, concurrency,
      });
      const [row] = await tx.query('SELECT * FROM pipeline_versions WHERE name = ? AND version = ?', [name, version]);
      if (!row) throw new Error('a pipeline version written in this transaction is missing');
      const before = await this.deploymentIn(tx, name);
      await this.writeDeployment(tx, name, { ...before, pinned: null, undeployed: false }, who);
      return { version: versionRow(row), created: true };
    });
  }

  async getPipelineVersion(name: string, version?: number): Promise<PipelineVersion> {
    checkPipelineName(name);
    if (version !== undefined && (!Number.isInteger(version) || version < 1)) throw invalid(`Invalid pipeline version '${version}': must be a positive integer`);
    const db = this.uow.read;
    const rows = version === undefined
      ? await db.query('SELECT * FROM pipeline_versions WHERE name = ? ORDER BY version DESC LIMIT 1', [name])
      : await db.query('SELECT * FROM pipeline_versions WHERE name = ? AND version = ?', [name, version]);
    if (!rows[0]) {
      if (version === undefined) throw new TrellisError('TRELLIS_PIPELINE_NOT_FOUND', { name: excerpt(name) });
      const any = await db.query('SELECT 1 FROM pipeline_versions WHERE name = ? LIMIT 1', [name]);
      throw any.length ? new TrellisError('TRELLIS_PIPELINE_VERSION_NOT_FOUND', { name: excerpt(name), version }) : new TrellisError('TRELLIS_PIPELINE_NOT_FOUND', { name: excerpt(name) });
    }
    return versionRow(rows[0]);
  }

  async listPipelineVersions(name: string): Promise<PipelineVersion[]> {
    checkPipelineName(name);
    const rows = await this.uow.read.query('SELECT * FROM pipeline_versions WHERE name = ? ORDER BY version', [name]);
    if (!rows.length) throw new TrellisError('TRELLIS_PIPELINE_NOT_FOUND', { name: excerpt(name) });
    return rows.map(versionRow);
  }

  async getPipelineDeployment(name: string): Promise<PipelineDeployment> {
    checkPipelineName(name);
    const d = await this.deploymentIn(this.uow.read, name);
    if (!d.latest) throw new TrellisError('TRELLIS_PIPELINE_NOT_FOUND', { name: excerpt(name) });
    return d;
  }

  async listPipelineDeployments(): Promise<PipelineDeployment[]> {
    const db = this.uow.read;
    const versions = new Map<string, number[]>();
    for (const r of await db.query('SELECT name, version FROM pipeline_versions ORDER BY name, version')) {
      versions.set(String(r.name), [...(versions.get(String(r.name)) ?? []), num(r.version)]);
    }
    const rows = new Map((await db.query('SELECT * FROM pipeline_deployments')).map((r) => [String(r.name), r]));
    return [...versions].map(([name, vs]) => deploymentOf(name, vs, rows.get(name)));
  }

  async changePipelineDeployment(name: string, change: DeploymentChange, who: Actor): Promise<PipelineDeployment> {
    checkPipelineName(name);
    const version = 'version' in change ? change.version : undefined;
    if (version !== undefined && (!Number.isInteger(version) || version < 1)) throw invalid(`Invalid pipeline version '${String(version)}': must be a positive integer`);
    if (!(change.action in DEPLOYMENT_EVENTS)) throw invalid(`Invalid deployment change '${String(change.action)}': must be one of ${Object.keys(DEPLOYMENT_EVENTS).join(', ')}`);
    return this.uow.write(who, async (tx, audit) => {
      const before = await this.deploymentIn(tx, name);
      if (!before.latest) throw new TrellisError('TRELLIS_PIPELINE_NOT_FOUND', { name: excerpt(name) });
      const [known] = version === undefined ? [true] : await tx.query('SELECT 1 FROM pipeline_versions WHERE name = ? AND version = ?', [name, version]);
      if (!known) throw new TrellisError('TRELLIS_PIPELINE_VERSION_NOT_FOUND', { name: excerpt(name), version });
      const next = { ...before };
      if (change.action === 'pause') next.paused = true;
      else if (change.action === 'resume-triggers') next.paused = false;
      else if (change.action === 'rollback') {
        Object.assign(next, { pinned: change.version === before.latest ? null : change.version, undeployed: false, withdrawn: before.withdrawn.filter((v) => v !== change.version) });
      } else if (change.version === undefined) next.undeployed = true;
      else {
        next.withdrawn = [...new Set([...before.withdrawn, change.version])].sort((a, b) => a - b);
        if (before.pinned === change.version) next.pinned = null;
      }
      // Every change is stamped: conditions count events after it, so resumed triggers do not fire for what was missed.
      const changed = next.paused !== before.paused || next.undeployed !== before.undeployed || next.pinned !== before.pinned || next.withdrawn.join() !== before.withdrawn.join();
      if (!changed) return before;
      const after = await this.writeDeployment(tx, name, next, who);
      const show = (d: PipelineDeployment) => ({ active: d.active, pinned: d.pinned, paused: d.paused, undeployed: d.undeployed, withdrawn: d.withdrawn });
      await audit(DEPLOYMENT_EVENTS[change.action], 'pipeline', name, show(before), { ...show(after), ...(version !== undefined ? { version } : {}) });
      return after;
    });
  }

  private async deploymentIn(db: SqlExecutor, name: string): Promise<PipelineDeployment> {
    const versions = (await db.query('SELECT version FROM pipeline_versions WHERE name = ? ORDER BY version', [name])).map((r) => num(r.version));
    const [row] = await db.query('SELECT * FROM pipeline_deployments WHERE name = ?', [name]);
    return deploymentOf(name, versions, row);
  }

  private async writeDeployment(tx: SqlExecutor, name: string, d: Pick<PipelineDeployment, 'pinned' | 'paused' | 'undeployed' | 'withdrawn'>, who: Actor): Promise<PipelineDeployment> {
    await tx.run(
      `INSERT INTO pipeline_deployments (name, pinned, paused, undeployed, withdrawn_json, changed_at, changed_by) VALUES (?,?,?,?,?,?,?)
       ON CONFLICT (name) DO UPDATE SET pinned = excluded.pinned, paused = excluded.paused, undeployed = excluded.undeployed,
         withdrawn_json = excluded.withdrawn_json, changed_at = excluded.changed_at, changed_by = excluded.changed_by`,
      [name, d.pinned, d.paused ? 1 : 0, d.undeployed ? 1 : 0, JSON.stringify(d.withdrawn), this.uow.now(), who.actor],
    );
    return this.deploymentIn(tx, name);
  }

  async listPipelines(): Promise<PipelineVersion[]> {
    const rows = await this.uow.read.query(
      'SELECT v.* FROM pipeline_versions v JOIN (SELECT name, MAX(version) AS version FROM pipeline_versions GROUP BY name) l ON l.name = v.name AND l.version = v.version ORDER BY v.name',
    );
    return rows.map(versionRow);
  }
}
