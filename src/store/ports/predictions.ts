/**
 * The prediction log: what each served request asked and got — request id, time, endpoint, the
 * model version and route that answered, the input rows, the outputs, the latency — and the labels
 * that arrive later as feedback. Written off the request path in batches by `trellis serve`; read by
 * `trellis predictions export`, the rollout controller (error rate, latency and the model metric
 * per route over a window) and the A/B report.
 *
 * A request is one entry per route that answered it (the shadow's answer has its own entry, marked
 * `shadow`). Feedback names a request id and gives one label per row; a label given again replaces
 * the earlier one. Entries are data, not configuration: they are not audited one by one.
 */

export interface PredictionEntry {
  requestId: string;
  endpoint: string;
  /** Milliseconds since the epoch, when the request arrived. */
  time: number;
  model: string;
  version: string;
  /** `primary`, `canary`, `arm:<name>` or `shadow`. */
  route: string;
  shadow: boolean;
  latencyMs: number;
  /** The input rows, column → value. */
  inputs: Record<string, unknown>[];
  /** One prediction per row: a class label or a number; absent when the request failed. */
  predictions?: (string | number)[];
  /** Classifiers: the class names, and one probability row per input row. */
  classes?: string[];
  proba?: number[][];
  /** Why it failed (a refusal of the input, or the server's error), when it did. */
  error?: string;
}

export interface LabelledEntry extends PredictionEntry {
  /** One per row when feedback came: the label, or null for rows without one. */
  labels?: (string | number | null)[];
}

export interface PredictionQuery {
  endpoint: string;
  since?: number;
  until?: number;
  /** Only the entries of this route (`primary`, `canary`, `arm:a`, `shadow`). */
  route?: string;
  /** Only entries with feedback. */
  withLabels?: boolean;
  limit?: number;
  /** Continue after this position (from the last page's `next`). */
  after?: { time: number; requestId: string; route: string };
}

/** What one route did over a window: the figures a rollout step is judged on. */
export interface RouteStats {
  route: string;
  model: string;
  version: string;
  requests: number;
  errors: number;
  /** Latencies in ms of the window's requests, ascending (for percentiles). */
  latencies: number[];
  /** Rows with a label: [prediction, label] pairs (and the class probabilities when there are). */
  labelled: { prediction: string | number; label: string | number; proba?: number[] }[];
  classes?: string[];
}

export interface PredictionLog {
  /** Appends entries in one transaction; an entry whose (endpoint, request id, route) is there already is ignored. */
  append(entries: readonly PredictionEntry[]): Promise<void>;
  /**
   * Attaches labels to the rows of a logged request (of the endpoint's answering route, shadows
   * included). Refuses an unknown request id or a label count that does not match the rows.
   */
  feedback(endpoint: string, requestId: string, labels: readonly (string | number | null)[], at: number): Promise<{ rows: number }>;
  /** Entries in time order, with their labels when there are. */
  query(q: PredictionQuery): Promise<LabelledEntry[]>;
  /** Per-route figures of the entries since `since` (shadows included, by route `shadow`). */
  stats(endpoint: string, since: number, until?: number): Promise<RouteStats[]>;
  /** Deletes entries (and their labels) older than `before`; returns how many. */
  prune(before: number): Promise<number>;
  /** The endpoints with entries, sorted; with `before`, only those with an entry older than it. */
  endpoints(before?: number): Promise<string[]>;
  /**
   * Deletes exactly these entries of an endpoint (once they are archived elsewhere); their labels
   * stay, so feedback that came meanwhile is not lost. Returns how many entries were deleted.
   */
  remove(endpoint: string, keys: readonly { requestId: string; route: string }[]): Promise<number>;
  /** The labels stored for these requests of an endpoint, by request id (requests without labels are absent). */
  labelsOf(endpoint: string, requestIds: readonly string[]): Promise<Map<string, (string | number | null)[]>>;
}
