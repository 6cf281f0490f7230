/**
 * {@link RegistryStore} in SQL: registered models, versions, stages and aliases. Each write is one
 * {@link UnitOfWork.write} with its audit events; a version's run is checked inside that write
 * (through the tracking tables' `runRow`), so a version never points at a run that did not exist
 * when it was created.
 */
import { TrellisError, invalid } from '../../core/errors.js';
import { LIMITS, checkKey, checkMaxResults, checkName, checkValueSize, excerpt } from '../limits.js';
import type { Actor, Page, SearchQuery, Tags } from '../ports/common.js';
import type { CreateModelVersionInput, ModelFileDigest, ModelVersion, RegisteredModel, RegistryStore, Stage } from '../ports/registry.js';
import { groupKv, nameTakenFolded, num, optStr, page } from './rows.js';
import type { Row, SqlExecutor } from './sql-driver.js';
import { pageTokens } from './page-tokens.js';
import { decodePageToken, simpleFilterSql, simpleOrderSql } from './sql-search.js';
import { runRow } from './sql-tracking-store.js';
import type { UnitOfWork } from './unit-of-work.js';

const STAGES: readonly Stage[] = ['None', 'Staging', 'Production', 'Archived'];

const MODEL_COLUMNS: Record<string, string> = {
  name: 'm.name', creation_timestamp: 'm.creation_timestamp', last_updated_timestamp: 'm.last_updated_timestamp',
};
const VERSION_COLUMNS: Record<string, string> = {
  name: 'm.name', version_number: 'v.version', run_id: 'v.run_id', source_path: 'v.source',
  creation_timestamp: 'v.creation_timestamp', last_updated_timestamp: 'v.last_updated_timestamp',
};

/** A stage as MLflow spells it, from any case; unknown stages are refused. */
export function canonicalStage(stage: string): Stage {
  const s = STAGES.find((x) => x.toLowerCase() === String(stage).toLowerCase());
  if (!s) throw invalid(`Invalid Model Version stage: ${stage}. Value must be one of ${STAGES.join(', ')}.`);
  return s;
}

function parseVersion(version: string | number): number {
  const n = typeof version === 'number' ? version : Number(version);
  if (!Number.isInteger(n) || n < 1 || String(version).trim() === '') {
    throw invalid(`Invalid model version number '${version}': must be a positive integer`);
  }
  return n;
}

function checkAlias(alias: string): void {
  if (typeof alias !== 'string' || !alias) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'alias' });
  if (!/^[\w-]{1,255}$/.test(alias)) throw invalid(`Invalid alias name '${alias}': use letters, digits, '_' and '-'`);
  if (/^v\d+$/i.test(alias) || alias.toLowerCase() === 'latest') {
    throw invalid(`Invalid alias name '${alias}': 'latest' and 'v<number>' are reserved`);
  }
}

async function modelRow(ex: SqlExecutor, name: string): Promise<Row> {
  if (typeof name !== 'string' || !name) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'name' });
  const rows = await ex.query('SELECT * FROM registered_models WHERE name = ?', [name]);
  if (!rows[0]) throw new TrellisError('TRELLIS_MODEL_NOT_FOUND', { name: excerpt(name) });
  return rows[0];
}

async function versionRow(ex: SqlExecutor, name: string, version: string): Promise<{ model: Row; row: Row }> {
  const model = await modelRow(ex, name);
  const v = parseVersion(version);
  const rows = await ex.query('SELECT * FROM model_versions WHERE model_id = ? AND version = ?', [model.model_id as number, v]);
  if (!rows[0]) throw new TrellisError('TRELLIS_MODEL_VERSION_NOT_FOUND', { name: excerpt(name), version: excerpt(version) });
  return { model, row: rows[0] };
}

/** Digests as the port takes them: relative paths, each once, with a sha256 and a size. */
function checkFiles(files: readonly ModelFileDigest[]): ModelFileDigest[] {
  const seen = new Set<string>();
  for (const f of files) {
    if (typeof f.path !== 'string' || !f.path || f.path.startsWith('/') || f.path.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw invalid(`Invalid model file path '${excerpt(String(f.path))}': it must be relative to the version's source`);
    }
    if (seen.has(f.path)) throw invalid(`Model file '${excerpt(f.path)}' is listed twice`);
    seen.add(f.path);
    if (!/^[0-9a-f]{64}$/.test(f.sha256)) throw invalid(`Invalid sha256 for model file '${excerpt(f.path)}'`);
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw invalid(`Invalid size for model file '${excerpt(f.path)}'`);
  }
  return [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function first<T>(items: T[], what: string): T {
  const [x] = items;
  if (x === undefined) throw new Error(`${what} loaded as nothing`);
  return x;
}

/**
 * Registered model names are unique regardless of case (checked in the write transaction; writers
 * are serialised): `name` is refused when another model, `except` aside, holds it in any case.
 */
async function refuseTakenModelName(tx: SqlExecutor, name: string, except?: number): Promise<void> {
  const taken = await nameTakenFolded(tx, 'registered_models', 'model_id', name, except);
  if (taken === undefined) return;
  if (taken === name) throw new TrellisError('TRELLIS_MODEL_EXISTS', { name });
  throw new TrellisError('TRELLIS_MODEL_EXISTS', { name }, {
    message: `Registered Model (name=${name}) already exists as '${taken}': model names are unique regardless of case.`,
  });
}

export class SqlRegistryStore implements RegistryStore {
  constructor(private readonly uow: UnitOfWork) {
    // The page-token key is settled when the store opens: a bad TRELLIS_PAGE_TOKEN_KEY stops the start, not a search.
    pageTokens();
  }

  // ------------------------------------------------------------------ registered models

  private async loadModels(rows: Row[], ex: SqlExecutor = this.uow.read): Promise<RegisteredModel[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => Number(r.model_id));
    const inList = ids.map(() => '?').join(',');
    const tags = groupKv(await ex.query(`SELECT model_id AS id, key, value FROM registered_model_tags WHERE model_id IN (${inList})`, ids));
    const aliases = groupKv(await ex.query(`SELECT model_id AS id, alias AS key, version AS value FROM model_aliases WHERE model_id IN (${inList})`, ids));
    // The latest version in each stage, as MLflow's latest_versions.
    const latestRows = await ex.query(
      `SELECT v.* FROM model_versions v WHERE v.model_id IN (${inList}) AND v.version = (
         SELECT MAX(v2.version) FROM model_versions v2 WHERE v2.model_id = v.model_id AND v2.current_stage = v.current_stage)`, ids);
    const names = new Map(rows.map((r) => [Number(r.model_id), String(r.name)]));
    const latest = new Map<number, ModelVersion[]>();
    const versions = await this.loadVersions(latestRows, names, ex);
    // loadVersions keeps the order of its rows, so the i-th version is the i-th row's.
    for (const [i, v] of versions.entries()) {
      const id = Number(latestRows[i]?.model_id);
      latest.set(id, [...(latest.get(id) ?? []), v]);
    }
    return rows.map((r) => {
      const id = Number(r.model_id);
      const m: RegisteredModel = {
        name: String(r.name), creationTimestamp: num(r.creation_timestamp), lastUpdatedTimestamp: num(r.last_updated_timestamp),
        tags: tags.get(id) ?? {}, aliases: aliases.get(id) ?? {},
        latestVersions: (latest.get(id) ?? []).sort((a, b) => Number(a.version) - Number(b.version)),
      };
      const user = optStr(r.user_id);
      const desc = optStr(r.description);
      if (user !== undefined) m.userId = user;
      if (desc !== undefined) m.description = desc;
      return m;
    });
  }

  private async loadVersions(rows: Row[], names?: Map<number, string>, ex: SqlExecutor = this.uow.read): Promise<ModelVersion[]> {
    if (!rows.length) return [];
    const modelIds = [...new Set(rows.map((r) => Number(r.model_id)))];
    const inList = modelIds.map(() => '?').join(',');
    const nameMap = names ?? new Map((await ex.query(`SELECT model_id, name FROM registered_models WHERE model_id IN (${inList})`, modelIds)).map((r) => [Number(r.model_id), String(r.name)]));
    const tagRows = await ex.query(`SELECT * FROM model_version_tags WHERE model_id IN (${inList})`, modelIds);
    const aliasRows = await ex.query(`SELECT * FROM model_aliases WHERE model_id IN (${inList}) ORDER BY alias`, modelIds);
    return rows.map((r) => {
      const id = Number(r.model_id);
      const version = Number(r.version);
      const v: ModelVersion = {
        name: String(nameMap.get(id)), version: String(version), creationTimestamp: num(r.creation_timestamp),
        lastUpdatedTimestamp: num(r.last_updated_timestamp), currentStage: r.current_stage as Stage, source: String(r.source),
        status: r.status as ModelVersion['status'],
        tags: Object.fromEntries(tagRows.filter((t) => Number(t.model_id) === id && Number(t.version) === version).map((t) => [String(t.key), String(t.value)])),
        aliases: aliasRows.filter((a) => Number(a.model_id) === id && Number(a.version) === version).map((a) => String(a.alias)),
      };
      for (const [field, col] of [['userId', 'user_id'], ['description', 'description'], ['runId', 'run_id'], ['runLink', 'run_link'], ['statusMessage', 'status_message']] as const) {
        const s = optStr(r[col]);
        if (s !== undefined) v[field] = s;
      }
      return v;
    });
  }

  private async modelById(ex: SqlExecutor, modelId: number): Promise<RegisteredModel> {
    return first(await this.loadModels(await ex.query('SELECT * FROM registered_models WHERE model_id = ?', [modelId]), ex), 'a registered model');
  }

  async createRegisteredModel(input: { name: string; description?: string; tags?: Tags }, who: Actor): Promise<RegisteredModel> {
    const name = checkName('Registered model', input.name, { slash: true });
    for (const [k, v] of Object.entries(input.tags ?? {})) { checkKey('tag', k); checkValueSize('Tag', k, v, LIMITS.runTagValueBytes); }
    return this.uow.write(who, async (tx, audit) => {
      await refuseTakenModelName(tx, name);
      const now = this.uow.now();
      const [row] = await tx.query<{ id: number }>(
        'INSERT INTO registered_models (name, creation_timestamp, last_updated_timestamp, user_id, description) VALUES (?,?,?,?,?) RETURNING model_id AS id',
        [name, now, now, who.actor, input.description ?? null],
      );
      if (!row) throw new Error('INSERT … RETURNING returned no row');
      await tx.runMany('INSERT INTO registered_model_tags (model_id, key, value) VALUES (?,?,?)', Object.entries(input.tags ?? {}).map(([k, v]) => [row.id, k, v]));
      await audit('create_registered_model', 'registered_model', name, null, { name, description: input.description ?? null, tags: input.tags ?? {} });
      return this.modelById(tx, row.id);
    });
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    return first(await this.loadModels([await modelRow(this.uow.read, name)]), 'a registered model');
  }

  async searchRegisteredModels(q: SearchQuery): Promise<Page<RegisteredModel>> {
    const max = checkMaxResults(q.maxResults, 100, 1000);
    const offset = decodePageToken(q.pageToken);
    const f = simpleFilterSql(this.uow.dialect, q.filter ?? [], MODEL_COLUMNS, (a) => `registered_model_tags ${a} WHERE ${a}.model_id = m.model_id`);
    const order = simpleOrderSql(q.orderBy ?? [], MODEL_COLUMNS, 'm.name ASC');
    const rows = await this.uow.read.query(`SELECT m.* FROM registered_models m ${f.where.length ? `WHERE ${f.where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ? OFFSET ?`, [...f.params, max + 1, offset]);
    return page(await this.loadModels(rows.slice(0, max)), rows.length > max, offset + max);
  }

  async renameRegisteredModel(name: string, newName: string, who: Actor): Promise<RegisteredModel> {
    const target = checkName('Registered model', newName, { param: 'new_name', slash: true });
    return this.uow.write(who, async (tx, audit) => {
      const row = await modelRow(tx, name);
      if (name !== target) {
        await refuseTakenModelName(tx, target, row.model_id as number);
        await tx.run('UPDATE registered_models SET name = ?, last_updated_timestamp = ? WHERE model_id = ?', [target, this.uow.now(), row.model_id as number]);
        await audit('rename_registered_model', 'registered_model', name, { name }, { name: target });
      }
      return this.modelById(tx, row.model_id as number);
    });
  }

  async updateRegisteredModel(name: string, description: string, who: Actor): Promise<RegisteredModel> {
    return this.uow.write(who, async (tx, audit) => {
      const row = await modelRow(tx, name);
      await tx.run('UPDATE registered_models SET description = ?, last_updated_timestamp = ? WHERE model_id = ?', [description ?? null, this.uow.now(), row.model_id as number]);
      await audit('update_registered_model', 'registered_model', name, { description: row.description ?? null }, { description: description ?? null });
      return this.modelById(tx, row.model_id as number);
    });
  }

  async deleteRegisteredModel(name: string, who: Actor): Promise<void> {
    await this.uow.write(who, async (tx, audit) => {
      const row = await modelRow(tx, name);
      const id = row.model_id as number;
      const versions = await tx.query('SELECT version, current_stage, source FROM model_versions WHERE model_id = ? ORDER BY version', [id]);
      const aliases = await tx.query('SELECT alias, version FROM model_aliases WHERE model_id = ?', [id]);
      for (const t of ['model_aliases', 'model_version_tags', 'model_version_files', 'model_versions', 'registered_model_tags']) {
        await tx.run(`DELETE FROM ${t} WHERE model_id = ?`, [id]);
      }
      await tx.run('DELETE FROM registered_models WHERE model_id = ?', [id]);
      await audit('delete_registered_model', 'registered_model', name, {
        versions: versions.map((v) => ({ version: String(v.version), stage: v.current_stage, source: v.source })),
        aliases: Object.fromEntries(aliases.map((a) => [String(a.alias), String(a.version)])),
      }, null);
    });
  }

  async setRegisteredModelTag(name: string, key: string, value: string, who: Actor): Promise<void> {
    checkKey('tag', key);
    checkValueSize('Tag', key, value, LIMITS.runTagValueBytes);
    await this.uow.write(who, async (tx, audit) => {
      const row = await modelRow(tx, name);
      const old = await tx.query('SELECT value FROM registered_model_tags WHERE model_id = ? AND key = ?', [row.model_id as number, key]);
      await tx.run('INSERT INTO registered_model_tags (model_id, key, value) VALUES (?,?,?) ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value', [row.model_id as number, key, value]);
      await audit('set_registered_model_tag', 'registered_model', name, old[0] ? { [key]: old[0].value } : null, { [key]: value });
    });
  }

  async deleteRegisteredModelTag(name: string, key: string, who: Actor): Promise<void> {
    await this.uow.write(who, async (tx, audit) => {
      const row = await modelRow(tx, name);
      const old = await tx.query('SELECT value FROM registered_model_tags WHERE model_id = ? AND key = ?', [row.model_id as number, key]);
      if (!old[0]) throw new TrellisError('TRELLIS_TAG_NOT_FOUND', { key: excerpt(key), entity: `registered model ${excerpt(name)}` });
      await tx.run('DELETE FROM registered_model_tags WHERE model_id = ? AND key = ?', [row.model_id as number, key]);
      await audit('delete_registered_model_tag', 'registered_model', name, { [key]: old[0].value }, null);
    });
  }

  async getLatestVersions(name: string, stages?: string[]): Promise<ModelVersion[]> {
    const model = await this.getRegisteredModel(name);
    if (!stages || stages.length === 0) return model.latestVersions;
    const wanted = new Set(stages.map(canonicalStage));
    return model.latestVersions.filter((v) => wanted.has(v.currentStage));
  }

  // ------------------------------------------------------------------ model versions

  private async versionOf(ex: SqlExecutor, modelId: number, version: number): Promise<ModelVersion> {
    return first(await this.loadVersions(await ex.query('SELECT * FROM model_versions WHERE model_id = ? AND version = ?', [modelId, version]), undefined, ex), 'a model version');
  }

  async createModelVersion(input: CreateModelVersionInput, who: Actor): Promise<ModelVersion> {
    if (!input.source) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'source' });
    for (const [k, v] of Object.entries(input.tags ?? {})) { checkKey('tag', k); checkValueSize('Tag', k, v, LIMITS.runTagValueBytes); }
    const files = checkFiles(input.files ?? []);
    return this.uow.write(who, async (tx, audit) => {
      const model = await modelRow(tx, input.name);
      const id = model.model_id as number;
      if (input.runId) await runRow(tx, input.runId);
      const version = Number(model.next_version);
      const now = this.uow.now();
      await tx.run(
        "INSERT INTO model_versions (model_id, version, creation_timestamp, last_updated_timestamp, user_id, current_stage, description, source, run_id, run_link, status) VALUES (?,?,?,?,?,'None',?,?,?,?,'READY')",
        [id, version, now, now, who.actor, input.description ?? null, input.source, input.runId ?? null, input.runLink ?? null],
      );
      await tx.run('UPDATE registered_models SET next_version = ?, last_updated_timestamp = ? WHERE model_id = ?', [version + 1, now, id]);
      await tx.runMany('INSERT INTO model_version_tags (model_id, version, key, value) VALUES (?,?,?,?)', Object.entries(input.tags ?? {}).map(([k, v]) => [id, version, k, v]));
      await tx.runMany('INSERT INTO model_version_files (model_id, version, path, sha256, size) VALUES (?,?,?,?,?)', files.map((f) => [id, version, f.path, f.sha256, f.size]));
      await audit('create_model_version', 'model_version', `${input.name}/${version}`, null, {
        name: input.name, version: String(version), source: input.source, runId: input.runId ?? null, tags: input.tags ?? {},
        ...(files.length ? { files: Object.fromEntries(files.map((f) => [f.path, f.sha256])) } : {}),
      });
      return this.versionOf(tx, id, version);
    });
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersion> {
    const { model, row } = await versionRow(this.uow.read, name, version);
    return first(await this.loadVersions([row], new Map([[Number(model.model_id), name]])), 'a model version');
  }

  async getModelVersionFiles(name: string, version: string): Promise<ModelFileDigest[] | undefined> {
    const { model, row } = await versionRow(this.uow.read, name, version);
    const rows = await this.uow.read.query('SELECT path, sha256, size FROM model_version_files WHERE model_id = ? AND version = ? ORDER BY path', [model.model_id as number, row.version as number]);
    return rows.length ? rows.map((r) => ({ path: String(r.path), sha256: String(r.sha256), size: num(r.size) })) : undefined;
  }

  async updateModelVersion(name: string, version: string, description: string, who: Actor): Promise<ModelVersion> {
    return this.uow.write(who, async (tx, audit) => {
      const { model, row } = await versionRow(tx, name, version);
      await tx.run('UPDATE model_versions SET description = ?, last_updated_timestamp = ? WHERE model_id = ? AND version = ?', [description ?? null, this.uow.now(), model.model_id as number, row.version as number]);
      await audit('update_model_version', 'model_version', `${name}/${String(row.version)}`, { description: row.description ?? null }, { description: description ?? null });
      return this.versionOf(tx, model.model_id as number, Number(row.version));
    });
  }

  async deleteModelVersion(name: string, version: string, who: Actor): Promise<void> {
    await this.uow.write(who, async (tx, audit) => {
      const { model, row } = await versionRow(tx, name, version);
      const id = model.model_id as number;
      const v = Number(row.version);
      const aliases = await tx.query('SELECT alias FROM model_aliases WHERE model_id = ? AND version = ?', [id, v]);
      await tx.run('DELETE FROM model_aliases WHERE model_id = ? AND version = ?', [id, v]);
      await tx.run('DELETE FROM model_version_tags WHERE model_id = ? AND version = ?', [id, v]);
      await tx.run('DELETE FROM model_version_files WHERE model_id = ? AND version = ?', [id, v]);
      await tx.run('DELETE FROM model_versions WHERE model_id = ? AND version = ?', [id, v]);
      await audit('delete_model_version', 'model_version', `${name}/${v}`,
        { stage: row.current_stage, source: row.source, aliases: aliases.map((a) => String(a.alias)) }, null);
      for (const a of aliases) {
        await audit('delete_alias', 'registered_model', name, { alias: String(a.alias), version: String(v) }, { alias: String(a.alias), version: null });
      }
    });
  }

  async searchModelVersions(q: SearchQuery): Promise<Page<ModelVersion>> {
    const max = checkMaxResults(q.maxResults, 10000, 200000);
    const offset = decodePageToken(q.pageToken);
    const f = simpleFilterSql(this.uow.dialect, q.filter ?? [], VERSION_COLUMNS, (a) => `model_version_tags ${a} WHERE ${a}.model_id = v.model_id AND ${a}.version = v.version`);
    const order = simpleOrderSql(q.orderBy ?? [{ kind: 'attribute', key: 'last_updated_timestamp', ascending: false }], VERSION_COLUMNS, 'm.name ASC, v.version DESC');
    const rows = await this.uow.read.query(
      `SELECT v.* FROM model_versions v JOIN registered_models m ON m.model_id = v.model_id ${f.where.length ? `WHERE ${f.where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ? OFFSET ?`,
      [...f.params, max + 1, offset],
    );
    return page(await this.loadVersions(rows.slice(0, max)), rows.length > max, offset + max);
  }

  async transitionStage(name: string, version: string, stage: Stage, archiveExisting: boolean, who: Actor): Promise<ModelVersion> {
    const target = canonicalStage(stage);
    return this.uow.write(who, async (tx, audit) => {
      const { model, row } = await versionRow(tx, name, version);
      const id = model.model_id as number;
      const v = Number(row.version);
      const now = this.uow.now();
      if (archiveExisting && (target === 'Staging' || target === 'Production')) {
        const others = await tx.query('SELECT version FROM model_versions WHERE model_id = ? AND current_stage = ? AND version <> ? ORDER BY version', [id, target, v]);
        for (const o of others) {
          await tx.run("UPDATE model_versions SET current_stage = 'Archived', last_updated_timestamp = ? WHERE model_id = ? AND version = ?", [now, id, o.version as number]);
          await audit('transition_stage', 'model_version', `${name}/${String(o.version)}`, { stage: target }, { stage: 'Archived', reason: `archive_existing_versions when version ${v} moved to ${target}` });
        }
      }
      await tx.run('UPDATE model_versions SET current_stage = ?, last_updated_timestamp = ? WHERE model_id = ? AND version = ?', [target, now, id, v]);
      await tx.run('UPDATE registered_models SET last_updated_timestamp = ? WHERE model_id = ?', [now, id]);
      await audit('transition_stage', 'model_version', `${name}/${v}`, { stage: row.current_stage }, { stage: target });
      return this.versionOf(tx, id, v);
    });
  }

  async setModelVersionTag(name: string, version: string, key: string, value: string, who: Actor): Promise<void> {
    checkKey('tag', key);
    checkValueSize('Tag', key, value, LIMITS.runTagValueBytes);
    await this.uow.write(who, async (tx, audit) => {
      const { model, row } = await versionRow(tx, name, version);
      const args = [model.model_id as number, row.version as number, key];
      const old = await tx.query('SELECT value FROM model_version_tags WHERE model_id = ? AND version = ? AND key = ?', args);
      await tx.run('INSERT INTO model_version_tags (model_id, version, key, value) VALUES (?,?,?,?) ON CONFLICT (model_id, version, key) DO UPDATE SET value = excluded.value', [...args, value]);
      await audit('set_model_version_tag', 'model_version', `${name}/${String(row.version)}`, old[0] ? { [key]: old[0].value } : null, { [key]: value });
    });
  }

  async deleteModelVersionTag(name: string, version: string, key: string, who: Actor): Promise<void> {
    await this.uow.write(who, async (tx, audit) => {
      const { model, row } = await versionRow(tx, name, version);
      const args = [model.model_id as number, row.version as number, key];
      const old = await tx.query('SELECT value FROM model_version_tags WHERE model_id = ? AND version = ? AND key = ?', args);
      if (!old[0]) throw new TrellisError('TRELLIS_TAG_NOT_FOUND', { key: excerpt(key), entity: `model version ${excerpt(name)}/${excerpt(version)}` });
      await tx.run('DELETE FROM model_version_tags WHERE model_id = ? AND version = ? AND key = ?', args);
      await audit('delete_model_version_tag', 'model_version', `${name}/${String(row.version)}`, { [key]: old[0].value }, null);
    });
  }

  async setAlias(name: string, alias: string, version: string, who: Actor): Promise<void> {
    checkAlias(alias);
    await this.uow.write(who, async (tx, audit) => {
      const { model, row } = await versionRow(tx, name, version);
      const id = model.model_id as number;
      const v = Number(row.version);
      const old = await tx.query('SELECT version FROM model_aliases WHERE model_id = ? AND alias = ?', [id, alias]);
      const oldVersion = old[0] ? String(old[0].version) : null;
      if (oldVersion === String(v)) return;
      await tx.run('INSERT INTO model_aliases (model_id, alias, version) VALUES (?,?,?) ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version', [id, alias, v]);
      await audit('set_alias', 'registered_model', name, { alias, version: oldVersion }, { alias, version: String(v) });
    });
  }

  async deleteAlias(name: string, alias: string, who: Actor): Promise<void> {
    checkAlias(alias);
    await this.uow.write(who, async (tx, audit) => {
      const model = await modelRow(tx, name);
      const old = await tx.query('SELECT version FROM model_aliases WHERE model_id = ? AND alias = ?', [model.model_id as number, alias]);
      if (!old[0]) return;
      await tx.run('DELETE FROM model_aliases WHERE model_id = ? AND alias = ?', [model.model_id as number, alias]);
      await audit('delete_alias', 'registered_model', name, { alias, version: String(old[0].version) }, { alias, version: null });
    });
  }

  async getVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    const model = await modelRow(this.uow.read, name);
    const rows = await this.uow.read.query('SELECT version FROM model_aliases WHERE model_id = ? AND alias = ?', [model.model_id as number, alias]);
    if (!rows[0]) throw new TrellisError('TRELLIS_ALIAS_NOT_FOUND', { alias: excerpt(alias), name: excerpt(name) });
    return this.getModelVersion(name, String(rows[0].version));
  }
}
