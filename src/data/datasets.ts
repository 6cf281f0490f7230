/**
 * Dataset versions as users see them: `add` stores a file content-addressed, infers its schema,
 * computes its profile and records an immutable version with its lineage; validation, skew and
 * diff read those records back. A failed `add` leaves no version behind.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { TrellisError, invalid, isTrellisError } from '../core/errors.js';
import { parseDataRef, refErrors } from '../core/refs.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import { checkDatasetName } from '../store/limits.js';
import type { Actor } from '../store/ports/common.js';
import type { Dataset, DatasetSchemaDoc, DatasetStore, DatasetVersion } from '../store/ports/datasets.js';
import { diffVersions, type DatasetDiff } from './diff.js';
import { ProfileBuilder, type Profile } from './profile/profile.js';
import { profileTableParallel } from './profile/parallel.js';
import { formatOf, readCsvTables, readTableWithInference, type DataFormat, type ReadTableOptions } from './readers/index.js';
import { inferSchema } from './schema/infer.js';
import { openError } from './readers/files.js';
import { parseSchema, type DatasetSchema } from './schema/schema.js';
import { column, tableFromRows, type ColumnInference, type Table, type TableSchema } from './table.js';
import { validateTable, type ValidationReport } from './validate/validate.js';
import { isSkewed } from './validate/distances.js';

export interface AddOptions {
  format?: DataFormat;
  description?: string;
  /** A column of data-subject ids, indexed for erasure requests. */
  subjectColumn?: string;
  /** Columns present only in some environments, e.g. { income: ['training'] }. */
  environments?: Record<string, string[]>;
  lineage?: Record<string, string>;
  /** Where the data came from, when `file` is only a temporary copy (an upload). */
  source?: string;
  /** CSV files larger than this are profiled in a stream instead of loaded (default 512 MiB). */
  streamAboveBytes?: number;
  read?: ReadTableOptions;
}

export interface AddResult {
  version: DatasetVersion;
  /** False when this exact content was already a version of the dataset. */
  created: boolean;
  inference: readonly ColumnInference[];
}

/**
 * `name`, `name@3`, `name/3` or `name@latest` (the one reference syntax of `core/refs.ts`);
 * datasets have no aliases, so `name@word` is refused.
 */
export function parseDatasetRef(ref: string): { name: string; version?: number } {
  return parseDataRef(ref);
}

async function sha256File(path: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

export class DatasetService {
  constructor(private readonly store: DatasetStore, private readonly artifacts: ArtifactStore) {}

  async add(name: string, file: string, opts: AddOptions, who: Actor): Promise<AddResult> {
    // Checked (and normalised) before the name becomes part of an artifact path.
    name = checkDatasetName(name);
    const format = opts.format ?? formatOf(file);
    if (!format) throw new TrellisError('TRELLIS_DATA_FORMAT', { file, format: 'a data file', detail: `cannot tell the format from '${extname(file)}'; pass --format csv|jsonl|parquet|arrow` });
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (e) {
      throw openError(e, file);
    }
    const { sha256 } = await sha256File(file);
    // A dataset keeps the subject column it declared first; later versions are indexed by it too.
    const declared = (await this.store.getDataset(name).catch(() => undefined))?.subjectColumn;
    opts = { ...opts, subjectColumn: opts.subjectColumn ?? declared };
    const streamed = format === 'csv' && size > (opts.streamAboveBytes ?? 512 * 1024 * 1024);
    const { profile, inference, subjects } = streamed
      ? await this.profileCsvStream(file, opts)
      : await this.profileInMemory(file, format, opts);
    if (opts.subjectColumn && !profile.columns.some((c) => c.name === opts.subjectColumn)) {
      throw invalid(`Subject column '${opts.subjectColumn}' is not a column of ${basename(file)}; it has ${profile.columns.map((c) => c.name).join(', ')}`);
    }
    const schema = inferSchema(profile, { environments: opts.environments });
    const artifactPath = `datasets/${name}/${sha256}${extname(file).toLowerCase()}`;
    const existing = await this.store.getDatasetVersion(name).catch(() => undefined);
    await this.artifacts.put(artifactPath, createReadStream(file));
    try {
      const { version, created } = await this.store.createDatasetVersion({
        name, sha256, format, rows: profile.rows, columns: profile.columns.length, sizeBytes: size, source: opts.source ?? file, artifactPath,
        schema, profile, description: opts.description, subjectColumn: opts.subjectColumn, subjects, lineage: opts.lineage,
      }, who);
      // Known content under another file name: the bytes stay only under the version's own path.
      if (!created && version.artifactPath !== artifactPath) await this.artifacts.delete(artifactPath).catch(() => undefined);
      return { version, created, inference };
    } catch (e) {
      // The bytes are only kept for a version that was recorded (an identical earlier version keeps its own).
      if (!existing || existing.artifactPath !== artifactPath) await this.artifacts.delete(artifactPath).catch(() => undefined);
      throw e;
    }
  }

  private async profileInMemory(file: string, format: DataFormat, opts: AddOptions) {
    const { table, inference } = await readTableWithInference(file, { ...opts.read, format });
    if (opts.subjectColumn && !table.columns.some((c) => c.name === opts.subjectColumn)) {
      throw invalid(`Subject column '${opts.subjectColumn}' is not a column of ${basename(file)}; it has ${table.columns.map((c) => c.name).join(', ')}`);
    }
    return { profile: await profileTableParallel(table), inference, subjects: opts.subjectColumn ? subjectsOf(table, opts.subjectColumn) : undefined };
  }

  /**
   * Two passes for a file too large to load: types from the first rows, then every batch read
   * with those types and folded into one profile. A later value that does not fit its column's
   * type widens the column (integer → float, anything → string) and the pass restarts.
   */
  private async profileCsvStream(file: string, opts: AddOptions) {
    const sample = await readTableWithInference(file, { ...opts.read, format: 'csv', maxRows: 100_000 });
    const types: Record<string, TableSchema[string]> = Object.fromEntries(sample.inference.map((c) => [c.name, c.type]));
    for (let attempt = 0; attempt < 2 * sample.inference.length + 2; attempt++) {
      const builder = new ProfileBuilder();
      const subjects = opts.subjectColumn ? new Set<string>() : undefined;
      try {
        for await (const batch of readCsvTables(file, { ...opts.read, types })) {
          builder.add(batch.table);
          if (subjects) for (const s of subjectsOf(batch.table, opts.subjectColumn!)) subjects.add(s);
        }
        return { profile: builder.finish(), inference: sample.inference.map((c) => ({ ...c, type: types[c.name]! })), subjects: subjects ? [...subjects] : undefined };
      } catch (e) {
        const col = (e as TrellisError).code === 'TRELLIS_DATA_PARSE' ? widen(types, String((e as TrellisError).params.detail ?? '')) : undefined;
        if (!col) throw e;
      }
    }
    throw invalid(`Could not settle the column types of ${file}`);
  }

  list(): Promise<Dataset[]> {
    return this.store.listDatasets();
  }

  getDataset(name: string): Promise<Dataset> {
    return this.store.getDataset(name);
  }

  versions(name: string): Promise<DatasetVersion[]> {
    return this.store.listDatasetVersions(name);
  }

  /**
   * A version by reference: `name` or `name@latest` (the newest), `name@3`, `name@v3` or `name/3`.
   * A missing dataset or version is a not-found error that names it (and the versions there are).
   */
  async get(ref: string): Promise<DatasetVersion> {
    const { name, version } = parseDatasetRef(ref);
    try {
      return await this.store.getDatasetVersion(name, version);
    } catch (e) {
      if (!isTrellisError(e, 'TRELLIS_DATASET_NOT_FOUND', 'TRELLIS_DATASET_VERSION_NOT_FOUND')) throw e;
      const versions = await this.store.listDatasetVersions(name).catch(() => undefined);
      if (!versions) throw refErrors.noDataset(name);
      throw refErrors.noDatasetVersion(name, version ?? 'latest', versions.map((v) => v.version).sort((x, y) => x - y));
    }
  }

  /** The stored bytes of a version, read back into a table (they are hash-checked on the way). */
  async load(ref: string): Promise<Table> {
    return this.loadVersion(await this.get(ref));
  }

  /** {@link load} for a version already in hand: no second read of its record. */
  async loadVersion(v: DatasetVersion): Promise<Table> {
    // Read from the verified bytes in memory; the stored name gives errors a name (and a .tsv its delimiter).
    const bytes = await this.artifacts.get(v.artifactPath);
    return (await readTableWithInference({ bytes, name: v.artifactPath }, { format: v.format as DataFormat })).table;
  }

  async diff(refA: string, refB: string): Promise<DatasetDiff> {
    return diffVersions(await this.get(refA), await this.get(refB));
  }

  /** The contract for a dataset: its pinned schema if one was pinned, else the version's inferred one. */
  async contract(ref: string): Promise<{ schema: DatasetSchema; profile: Profile; source: string }> {
    const v = await this.get(ref);
    const pinned = await this.store.getDatasetSchema(v.name);
    return pinned
      ? { schema: parseSchema(pinned.schema), profile: v.profile as Profile, source: `${v.name} schema ${pinned.schemaVersion} (pinned), profile of ${v.name}@${v.version}` }
      : { schema: v.schema as DatasetSchema, profile: v.profile as Profile, source: `${v.name}@${v.version} (inferred schema and profile)` };
  }

  async validateFile(file: string, against: { ref?: string; schema?: unknown; environment?: string; read?: ReadTableOptions }): Promise<ValidationReport & { against: string }> {
    const { table } = await readTableWithInference(file, against.read ?? {});
    return this.validate(table, against);
  }

  /** Records as a serving request sends them: an array of objects. */
  async validateRecords(records: unknown, against: { ref?: string; schema?: unknown; environment?: string }): Promise<ValidationReport & { against: string }> {
    if (!Array.isArray(records) || records.some((r) => !r || typeof r !== 'object' || Array.isArray(r))) {
      throw invalid("'records' must be an array of JSON objects, one per row");
    }
    return this.validate(tableFromRows(records as Record<string, unknown>[]), against);
  }

  async validate(table: Table, against: { ref?: string; schema?: unknown; environment?: string }): Promise<ValidationReport & { against: string }> {
    if (against.schema !== undefined) {
      const schema = parseSchema(against.schema);
      const ref = against.ref ? await this.contract(against.ref) : undefined;
      return { ...validateTable(table, schema, { reference: ref?.profile, environment: against.environment }), against: ref ? `the given schema, profile of ${against.ref}` : 'the given schema' };
    }
    if (!against.ref) throw invalid('Validate against a dataset version (name[@version]) or a schema');
    const c = await this.contract(against.ref);
    return { ...validateTable(table, c.schema, { reference: c.profile, environment: against.environment }), against: c.source };
  }

  /** Train/serve skew: serving records against the training profile, with the same distances. */
  async skew(records: unknown, ref: string): Promise<{ against: string; distances: ValidationReport['distances']; skewed: string[]; excludedFromDrift: ValidationReport['excludedFromDrift'] }> {
    const r = await this.validateRecords(records, { ref, environment: 'serving' });
    return { against: r.against, distances: r.distances, skewed: r.distances.filter(isSkewed).map((d) => d.column), excludedFromDrift: r.excludedFromDrift };
  }

  async putSchema(name: string, schema: unknown, pin: boolean, who: Actor): Promise<DatasetSchemaDoc> {
    return this.store.putDatasetSchema(name, parseSchema(schema), pin, who);
  }

  /** The pinned schema document of a dataset, or a numbered one; undefined when none was stored. */
  getSchema(name: string, schemaVersion?: number): Promise<DatasetSchemaDoc | undefined> {
    return this.store.getDatasetSchema(name, schemaVersion);
  }

  /** Every dataset version that holds this data-subject id (for erasure requests). */
  findSubject(subject: string): Promise<{ name: string; version: number }[]> {
    return this.store.findSubject(subject);
  }

  /** The stored bytes of a version, exactly as added (hash-checked on the way). */
  async bytes(ref: string): Promise<{ version: DatasetVersion; data: Buffer }> {
    const version = await this.get(ref);
    return { version, data: await this.artifacts.get(version.artifactPath) };
  }
}

function subjectsOf(table: Table, name: string): string[] {
  const c = column(table, name);
  const out = new Set<string>();
  if (c.type === 'string') {
    for (let i = 0; i < c.codes.length; i++) if (c.codes[i]! >= 0) out.add(c.dictionary[c.codes[i]!]!);
  } else {
    for (let i = 0; i < c.values.length; i++) if (c.valid[i]) out.add(String(c.values[i]));
  }
  return [...out];
}

/** Widens the column a type rejection names; returns its name, or undefined if none is named. */
function widen(types: Record<string, TableSchema[string]>, detail: string): string | undefined {
  const name = Object.keys(types).find((n) => detail.includes(`'${n}'`));
  if (!name) return undefined;
  types[name] = types[name] === 'integer' ? 'float' : 'string';
  return name;
}
