/**
 * The parsed form of a search: what `tracking/search/search-filter.ts` produces from MLflow's filter and
 * order_by grammar, and what the store ports (`ports/`) execute. Kept beside the ports so that adapters
 * only execute clauses (never parse strings) and the parser never writes SQL.
 */

export type Comparator = '=' | '!=' | '>' | '>=' | '<' | '<=' | 'LIKE' | 'ILIKE' | 'IN' | 'NOT IN';

/** What a clause's left-hand side refers to. */
export type KeyKind = 'metric' | 'param' | 'tag' | 'attribute' | 'dataset';

export interface Clause {
  kind: KeyKind;
  /** Metric/param/tag key, attribute name (canonical, e.g. `start_time`, `run_name`), or dataset key. */
  key: string;
  comparator: Comparator;
  /** A number for numeric comparisons, a string, or a list for IN / NOT IN. */
  value: number | string | string[];
}

export interface OrderKey {
  kind: KeyKind;
  key: string;
  ascending: boolean;
}

export type ViewType = 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';

export interface Page<T> {
  items: T[];
  /** Opaque token for the next page; absent when no rows remain. */
  nextPageToken?: string;
}
