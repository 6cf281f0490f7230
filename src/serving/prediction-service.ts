/**
 * The prediction log as the serving routes, the CLI and the SDK use it: appends from
 * `trellis serve`, labels as feedback (checked: a request id, one label per row, labels that are
 * strings, numbers or null), and reads for export, rollouts and reports.
 */
import { invalid } from '../core/errors.js';
import type { LabelledEntry, PredictionEntry, PredictionLog, PredictionQuery, RouteStats } from '../store/ports/predictions.js';

const MAX_LABEL_CHARS = 1000;

export class PredictionService {
  constructor(private readonly log: PredictionLog, private readonly now: () => number = Date.now) {}

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

  query(q: PredictionQuery): Promise<LabelledEntry[]> {
    return this.log.query(q);
  }

  stats(endpoint: string, since: number, until?: number): Promise<RouteStats[]> {
    return this.log.stats(endpoint, since, until);
  }

  prune(before: number): Promise<number> {
    return this.log.prune(before);
  }
}
