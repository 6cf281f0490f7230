/**
 * {@link DatasetStore} in SQL: datasets, their versions, schema documents and the subject index.
 * A first version creates its dataset in the same {@link UnitOfWork.write}, with both audit
 * events, so a dataset never exists without the version that made it.
 */
import { TrellisError, invalid } from '../../core/errors.js';
import { canonicalJson, sha256Hex } from '../../core/hash.js';
import { checkDatasetName, excerpt } from '../limits.js';
import type { Actor } from '../ports/common.js';
import type { CreateDatasetVersionInput, Dataset, DatasetSchemaDoc, DatasetStore, DatasetVersion } from '../ports/datasets.js';
import { jsonCol, nameTakenFolded, num, optStr } from './rows.js';
import type { Row, SqlExecutor } from './sql-driver.js';
import type { UnitOfWork } from './unit-of-work.js';

async function datasetRowOf(ex: SqlExecutor, name: string): Promise<Row> {
  if (typeof name !== 'string' || !name) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'name' });
  const rows = await ex.query('SELECT * FROM datasets WHERE name = ?', [name]);
  if (!rows[0]) throw new TrellisError('TRELLIS_DATASET_NOT_FOUND', { name: excerpt(name) });
  return rows[0];
}

export class SqlDatasetStore implements DatasetStore {
  constructor(private readonly uow: UnitOfWork) {}

  async createDatasetVersion(input: CreateDatasetVersionInput, who: Actor): Promise<{ version: DatasetVersion; created: boolean }> {
    const name = checkDatasetName(input.name);
    if (!/^[0-9a-f]{64}$/.test(input.sha256)) throw invalid(`Invalid sha256 '${excerpt(input.sha256)}' for dataset '${name}'`);
    return this.uow.write(who, async (tx, audit) => {
      const now = this.uow.now();
      let ds = (await tx.query('SELECT * FROM datasets WHERE name = ?', [name]))[0];
      if (!ds) {
        // Dataset names are unique regardless of case: a new name must not be an existing one in another case.
        const taken = await nameTakenFolded(tx, 'datasets', 'dataset_id', name);
        if (taken !== undefined) {
          throw invalid(`Invalid dataset name '${name}' in 'name': dataset '${taken}' already exists, and dataset names are unique regardless of case; add the version to '${taken}'`);
        }
        [ds] = await tx.query(
          'INSERT INTO datasets (name, creation_time, last_update_time, description, subject_column) VALUES (?,?,?,?,?) RETURNING *',
          [name, now, now, input.description ?? null, input.subjectColumn ?? null],
        );
        if (!ds) throw new Error('INSERT … RETURNING returned no row');
        await audit('create_dataset', 'dataset', name, null, { name, subjectColumn: input.subjectColumn ?? null });
      } else if ((input.subjectColumn ?? null) !== (ds.subject_column ?? null) && input.subjectColumn !== undefined) {
        throw invalid(`Dataset '${name}' declares subject column '${optStr(ds.subject_column) ?? '(none)'}'; a version cannot declare '${input.subjectColumn}'`);
      }
      const id = Number(ds.dataset_id);
      const same = await tx.query('SELECT * FROM dataset_versions WHERE dataset_id = ? AND sha256 = ?', [id, input.sha256]);
      if (same[0]) return { version: datasetVersionRow(name, same[0]), created: false };
      const version = Number(ds.next_version);
      await tx.run(
        `INSERT INTO dataset_versions (dataset_id, version, sha256, format, row_count, column_count, size_bytes, source, artifact_path, created_by, creation_time, schema_json, profile_json, lineage_json)
         VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
        [id, version, input.sha256, input.format, input.rows, input.columns, input.sizeBytes, input.source, input.artifactPath, who.actor, now,
          JSON.stringify(input.schema), JSON.stringify(input.profile), input.lineage ? JSON.stringify(input.lineage) : null],
      );
      await tx.run('UPDATE datasets SET next_version = ?, last_update_time = ? WHERE dataset_id = ?', [version + 1, now, id]);
      if (input.subjects?.length) {
        await tx.runMany('INSERT INTO dataset_subjects (subject, dataset_id, version) VALUES (?,?,?) ON CONFLICT DO NOTHING', input.subjects.map((sub) => [sub, id, version]));
      }
      await audit('create_dataset_version', 'dataset_version', `${name}@${version}`, null, {
        name, version, sha256: input.sha256, rows: input.rows, columns: input.columns, source: input.source, subjects: input.subjects?.length ?? 0,
      });
      const [row] = await tx.query('SELECT * FROM dataset_versions WHERE dataset_id = ? AND version = ?', [id, version]);
      if (!row) throw new Error('a dataset version written in this transaction is missing');
      return { version: datasetVersionRow(name, row), created: true };
    });
  }

  async getDataset(name: string): Promise<Dataset> {
    return datasetRow(await datasetRowOf(this.uow.read, name));
  }

  async listDatasets(): Promise<Dataset[]> {
    return (await this.uow.read.query('SELECT * FROM datasets ORDER BY name')).map(datasetRow);
  }

  async listDatasetVersions(name: string): Promise<DatasetVersion[]> {
    const ds = await datasetRowOf(this.uow.read, name);
    return (await this.uow.read.query('SELECT * FROM dataset_versions WHERE dataset_id = ? ORDER BY version', [ds.dataset_id as number])).map((r) => datasetVersionRow(name, r));
  }

  async getDatasetVersion(name: string, version?: number): Promise<DatasetVersion> {
    const ds = await datasetRowOf(this.uow.read, name);
    if (version !== undefined && (!Number.isInteger(version) || version < 1)) throw invalid(`Invalid dataset version '${version}': must be a positive integer`);
    const rows = version === undefined
      ? await this.uow.read.query('SELECT * FROM dataset_versions WHERE dataset_id = ? ORDER BY version DESC LIMIT 1', [ds.dataset_id as number])
      : await this.uow.read.query('SELECT * FROM dataset_versions WHERE dataset_id = ? AND version = ?', [ds.dataset_id as number, version]);
    if (!rows[0]) throw new TrellisError('TRELLIS_DATASET_VERSION_NOT_FOUND', { name: excerpt(name), version: version ?? 'latest' });
    return datasetVersionRow(name, rows[0]);
  }

  async findSubject(subject: string): Promise<{ name: string; version: number }[]> {
    const rows = await this.uow.read.query('SELECT d.name, s.version FROM dataset_subjects s JOIN datasets d ON d.dataset_id = s.dataset_id WHERE s.subject = ? ORDER BY d.name, s.version', [subject]);
    return rows.map((r) => ({ name: String(r.name), version: num(r.version) }));
  }

  async putDatasetSchema(name: string, schema: unknown, pin: boolean, who: Actor): Promise<DatasetSchemaDoc> {
    if (schema === null || typeof schema !== 'object') throw invalid('A dataset schema must be a JSON object');
    return this.uow.write(who, async (tx, audit) => {
      const ds = await datasetRowOf(tx, name);
      const id = ds.dataset_id as number;
      const v = Number(ds.next_schema_version);
      const now = this.uow.now();
      if (pin) await tx.run('UPDATE dataset_schemas SET pinned = 0 WHERE dataset_id = ?', [id]);
      await tx.run('INSERT INTO dataset_schemas (dataset_id, schema_version, schema_json, pinned, created_by, creation_time) VALUES (?,?,?,?,?,?)', [id, v, JSON.stringify(schema), pin ? 1 : 0, who.actor, now]);
      await tx.run('UPDATE datasets SET next_schema_version = ?, last_update_time = ? WHERE dataset_id = ?', [v + 1, now, id]);
      await audit(pin ? 'pin_dataset_schema' : 'put_dataset_schema', 'dataset', name, null, { schemaVersion: v, pinned: pin, sha256: sha256Hex(canonicalJson(schema)) });
      return { name, schemaVersion: v, schema, pinned: pin, createdBy: who.actor, creationTime: now };
    });
  }

  async getDatasetSchema(name: string, schemaVersion?: number): Promise<DatasetSchemaDoc | undefined> {
    const ds = await datasetRowOf(this.uow.read, name);
    const rows = schemaVersion === undefined
      ? await this.uow.read.query('SELECT * FROM dataset_schemas WHERE dataset_id = ? AND pinned = 1', [ds.dataset_id as number])
      : await this.uow.read.query('SELECT * FROM dataset_schemas WHERE dataset_id = ? AND schema_version = ?', [ds.dataset_id as number, schemaVersion]);
    const r = rows[0];
    if (!r) return undefined;
    return { name, schemaVersion: num(r.schema_version), schema: jsonCol(r.schema_json), pinned: Number(r.pinned) === 1, createdBy: String(r.created_by), creationTime: num(r.creation_time) };
  }
}

function datasetRow(r: Row): Dataset {
  const d: Dataset = { name: String(r.name), creationTime: num(r.creation_time), lastUpdateTime: num(r.last_update_time) };
  const description = optStr(r.description);
  const subject = optStr(r.subject_column);
  if (description !== undefined) d.description = description;
  if (subject !== undefined) d.subjectColumn = subject;
  if (Number(r.next_version) > 1) d.latestVersion = Number(r.next_version) - 1;
  return d;
}

function datasetVersionRow(name: string, r: Row): DatasetVersion {
  const v: DatasetVersion = {
    name, version: num(r.version), sha256: String(r.sha256), format: String(r.format), rows: num(r.row_count),
    columns: num(r.column_count), sizeBytes: num(r.size_bytes), source: String(r.source), artifactPath: String(r.artifact_path),
    createdBy: String(r.created_by), creationTime: num(r.creation_time),
    schema: jsonCol(r.schema_json), profile: jsonCol(r.profile_json),
  };
  if (r.lineage_json != null) v.lineage = jsonCol<Record<string, string>>(r.lineage_json);
  return v;
}
