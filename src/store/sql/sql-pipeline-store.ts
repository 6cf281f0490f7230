/**
 * {@link PipelineStore} in SQL: published pipeline versions, and the pipeline run records the
 * engine keeps. Every write is one {@link UnitOfWork.write} with its audit event.
 */
import { TrellisError, invalid } from '../../core/errors.js';
import type { Actor } from '../ports/common.js';
import type { CreatePipelineVersionInput, PipelineStore, PipelineVersion } from '../ports/pipelines.js';
import { jsonCol, num } from './rows.js';
import type { Row } from './sql-driver.js';
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
      if (same[0]) return { version: versionRow(same[0]), created: false };
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
      if (version === undefined) throw new TrellisError('TRELLIS_PIPELINE_NOT_FOUND', { name });
      const any = await db.query('SELECT 1 FROM pipeline_versions WHERE name = ? LIMIT 1', [name]);
      throw any.length ? new TrellisError('TRELLIS_PIPELINE_VERSION_NOT_FOUND', { name, version }) : new TrellisError('TRELLIS_PIPELINE_NOT_FOUND', { name });
    }
    return versionRow(rows[0]);
  }

  async listPipelineVersions(name: string): Promise<PipelineVersion[]> {
    checkPipelineName(name);
    const rows = await this.uow.read.query('SELECT * FROM pipeline_versions WHERE name = ? ORDER BY version', [name]);
    if (!rows.length) throw new TrellisError('TRELLIS_PIPELINE_NOT_FOUND', { name });
    return rows.map(versionRow);
  }

  async listPipelines(): Promise<PipelineVersion[]> {
    const rows = await this.uow.read.query(
      'SELECT v.* FROM pipeline_versions v JOIN (SELECT name, MAX(version) AS version FROM pipeline_versions GROUP BY name) l ON l.name = v.name AND l.version = v.version ORDER BY v.name',
    );
    return rows.map(versionRow);
  }
}
