/**
 * Dataset versions from the SDK, as `t.data`: the same calls embedded or remote.
 *
 * ```ts
 * const t = await Trellis.open();
 * const { version, created } = await t.data.add('bike', 'data/hour.csv', { subjectColumn: 'instant' });
 * const report = await t.data.validate(requestRows, `bike@${version.version}`, { environment: 'serving' });
 * if (!report.ok) console.error(report.anomalies.map((a) => a.message));
 * ```
 */
import type { DatasetDiff } from '../data/diff.js';
import type { DataFormat } from '../data/readers/index.js';
import type { Dataset, DatasetSchemaDoc } from '../store/ports/datasets.js';
import type { Backend, DatasetAddOptions, DatasetAddResult, DatasetVersionInfo, SkewResult, ValidateFileOptions, ValidationResult } from './backend.js';

/** References are `name`, `name@3` or `name@latest`. */
export class TrellisData {
  constructor(private readonly backend: Backend) {}

  /**
   * Stores a data file (CSV, JSON Lines, Parquet, Arrow) as the next version of `name`, with its
   * inferred schema and profile; the same content again returns the existing version.
   *
   * ```ts
   * const { version } = await t.data.add('bike', 'hour.csv'); // version.version === 1
   * ```
   */
  add(name: string, file: string, opts: DatasetAddOptions = {}): Promise<DatasetAddResult> {
    return this.backend.addDataset(name, file, opts);
  }

  /** Every dataset, by name: `(await t.data.list()).map((d) => d.latestVersion)`. */
  list(): Promise<Dataset[]> {
    return this.backend.listDatasets();
  }

  /** The versions of a dataset, oldest first: `(await t.data.versions('bike')).map((v) => v.rows)`. */
  versions(name: string): Promise<DatasetVersionInfo[]> {
    return this.backend.datasetVersions(name);
  }

  /** One version: `(await t.data.get('bike@1')).schema.columns`. */
  get(ref: string): Promise<DatasetVersionInfo> {
    return this.backend.getDatasetVersion(ref);
  }

  /** The stored bytes of a version, exactly as added: `await writeFile('bike-1.csv', (await t.data.bytes('bike@1')).data)`. */
  bytes(ref: string): Promise<{ version: DatasetVersionInfo; data: Buffer }> {
    return this.backend.datasetBytes(ref);
  }

  /** What changed between two versions: `(await t.data.diff('bike@1', 'bike@2')).schema.added`. */
  diff(a: string, b: string): Promise<DatasetDiff> {
    return this.backend.diffDatasets(a, b);
  }

  /**
   * Checks records (one object per row) against a version's contract: its pinned schema, or its
   * inferred one, and its profile for skew. `ok` is false when a blocking anomaly was found.
   *
   * ```ts
   * const r = await t.data.validate([{ season: 7, temp: 0.3 }], 'bike@1', { environment: 'serving' });
   * r.anomalies; // [{ kind: 'out_of_range', column: 'season', ... }, ...]
   * ```
   */
  validate(records: readonly object[], against: string, opts: { environment?: string } = {}): Promise<ValidationResult> {
    return this.backend.validateRecords(records, against, opts);
  }

  /**
   * Checks a data file on this machine against a version's contract (`against`) or a schema
   * document (`schema`); remote, its rows are sent as records.
   *
   * ```ts
   * const r = await t.data.validateFile('today.csv', { against: 'bike@latest', environment: 'serving' });
   * ```
   */
  validateFile(file: string, opts: ValidateFileOptions): Promise<ValidationResult> {
    return this.backend.validateFile(file, opts);
  }

  /** Train/serve skew of a data file on this machine: `(await t.data.skewFile('today.csv', 'bike@1')).skewed`. */
  skewFile(file: string, against: string, opts: { format?: DataFormat } = {}): Promise<SkewResult> {
    return this.backend.skewFile(file, against, opts);
  }

  /** The pinned schema document of a dataset (or a numbered one); undefined when none was stored. */
  schema(name: string, schemaVersion?: number): Promise<DatasetSchemaDoc | undefined> {
    return this.backend.getDatasetSchema(name, schemaVersion);
  }

  /**
   * Stores a schema document (`trellis.schema/v1`) as the dataset's next one; `pin` makes it the
   * contract validation uses: `await t.data.putSchema('bike', doc, { pin: true })`.
   */
  putSchema(name: string, schema: unknown, opts: { pin?: boolean } = {}): Promise<DatasetSchemaDoc> {
    return this.backend.putDatasetSchema(name, schema, opts.pin ?? false);
  }

  /**
   * Train/serve skew of serving records against a training version's profile.
   *
   * ```ts
   * const { skewed } = await t.data.skew(lastHourOfRequests, 'bike@1'); // e.g. ['temp']
   * ```
   */
  skew(records: readonly object[], against: string): Promise<SkewResult> {
    return this.backend.skew(records, against);
  }
}
