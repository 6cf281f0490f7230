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
import type { Dataset } from '../store/ports/datasets.js';
import type { Backend, DatasetAddOptions, DatasetAddResult, DatasetVersionInfo, SkewResult, ValidationResult } from './backend.js';

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
