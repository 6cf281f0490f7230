/**
 * The prediction log as the serving routes, the CLI and the SDK use it: appends from
 * `trellis serve`, labels as feedback (checked: a request id, one label per row, labels that are
 * strings, numbers or null), and reads for export, rollouts and reports. With an artifact store,
 * old entries can be archived as Parquet files (`prediction-archive.ts`), and queries read the
 * archive beside the table: the same entries in the same order, whether archived or not.
 */
import { invalid } from '../core/errors.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import type { LabelledEntry, PredictionEntry, PredictionLog, PredictionQuery, RouteStats } from '../store/ports/predictions.js';
import { compareEntries, PredictionArchive, type ArchivedDay } from './prediction-archive.js';

const MAX_LABEL_CHARS = 1000;
/** As the log pages: 1000 entries unless asked, at most 10 000. */
const DEFAULT_PAGE = 1000;
const MAX_PAGE = 10_000;

export class PredictionService {
  private readonly archiveStore?: PredictionArchive;
  private readonly now: () => number;

  constructor(private readonly log: PredictionLog, opts: { now?: () => number; artifacts?: ArtifactStore } = {}) {
    this.now = opts.now ?? Date.now;
    if (opts.artifacts) this.archiveStore = new PredictionArchive(log, opts.artifacts);
  }

  append(entries: readonly PredictionEntry[]): Promise<void> {
    return this.log.append(entries);
  }

  /** Attaches labels to a logged request's rows; `labels` is one per row (a lone label for a one-row request). */
  feedback(endpoint: string, requestId: unknown, labels: unknown): Promise<{ rows: number }> {
    if (typeof requestId !== 'string' || requestId === '' || requestId.length > 128) throw invalid("'request_id' must be the x-request-id of a request (a string of at most 128 characters)");
    const list = Array.isArray(labels) ? labels : [labels];
    if (list.length === 0 || list.length > 100_000) throw invalid("'labels' must hold one label per row of the request");
    list.forEach((l, i) => {
      const ok = l === null || (typeof l === 'number' && Number.isFinite(l)) || (typeof l === 'string' && l.length <= MAX_LABEL_CHARS);
      if (!ok) throw invalid(`Label ${i + 1} is ${typeof l === 'number' ? String(l) : JSON.stringify(l)?.slice(0, 60) ?? typeof l}: a label is a string, a finite number or null`);
    });
    return this.log.feedback(endpoint, requestId, list as (string | number | null)[], this.now());
  }

  /** Entries in time order, from the table and, when the window reaches back to it, the archive; one per (request id, route). */
  async query(q: PredictionQuery): Promise<LabelledEntry[]> {
    const live = await this.log.query(q);
    if (!this.archiveStore) return live;
    const limit = Math.max(1, Math.min(MAX_PAGE, Math.floor(q.limit ?? DEFAULT_PAGE)));
    const archived = await this.archiveStore.query(q, limit);
    if (!archived.length) return live;
    // An entry in both (a run stopped between writing its file and deleting the rows) counts once.
    const seen = new Set(live.map((e) => `${e.requestId}\u0000${e.route}`));
    return [...live, ...archived.filter((e) => !seen.has(`${e.requestId}\u0000${e.route}`))].sort(compareEntries).slice(0, limit);
  }

  /** Per-route figures of a window, from the table only: rollouts and reports judge recent traffic. */
  stats(endpoint: string, since: number, until?: number): Promise<RouteStats[]> {
    return this.log.stats(endpoint, since, until);
  }

  /** The endpoints with logged entries (in the table), sorted. */
  endpoints(): Promise<string[]> {
    return this.log.endpoints();
  }

  /**
   * Moves the entries older than `olderThan` (ms since the epoch) — of one endpoint, or of all —
   * into Parquet files in the artifact store; see `prediction-archive.ts`.
   */
  archive(opts: { olderThan: number; endpoint?: string }): Promise<ArchivedDay[]> {
    if (!this.archiveStore) throw invalid('The prediction log has no artifact store to archive into');
    if (!Number.isFinite(opts.olderThan)) throw invalid(`'olderThan' must be a time in ms since the epoch, got ${String(opts.olderThan)}`);
    return this.archiveStore.archive(opts);
  }

  prune(before: number): Promise<number> {
    return this.log.prune(before);
  }
}
