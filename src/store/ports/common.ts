/**
 * The vocabulary every port shares: who made a change, string tags, and the parsed form of a
 * search with its pages. Kept apart so that a port never imports another port to name an actor.
 */
import type { Clause, OrderKey } from '../search-types.js';

export type { Clause, Comparator, KeyKind, OrderKey, Page, ViewType } from '../search-types.js';

export type Tags = Record<string, string>;

/** Soft deletion, as MLflow keeps it for experiments and runs. */
export type LifecycleStage = 'active' | 'deleted';

/** Who made a change: a user name, a token id, or `trellis` for the platform's own decisions. */
export interface Actor {
  actor: string;
}

export interface SearchQuery {
  filter?: Clause[];
  orderBy?: OrderKey[];
  maxResults?: number;
  pageToken?: string;
}
