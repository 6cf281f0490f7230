/**
 * The audit log: the hash-chained record of every change made through the other ports. It has no
 * write method on purpose: an event is appended by the adapter of the port that made the change,
 * inside that change's transaction, so that there is no state change without its record and no
 * record without its change. This port only reads the chain (`audit-chain.ts` verifies it).
 *
 * Invariants the adapter owns: events are numbered by `seq` in commit order with no gaps, each
 * event's `prevHash` is the previous event's `hash`, and an event is never changed once written.
 */

export interface AuditEvent {
  seq: number;
  time: number;
  actor: string;
  action: string;
  entityType: string;
  entityId: string;
  before: unknown;
  after: unknown;
  prevHash: string;
  hash: string;
}

export interface AuditQuery {
  /** Events after this sequence number (exclusive); default 0. */
  afterSeq?: number;
  /** Default 10,000. */
  limit?: number;
  entityType?: string;
  entityId?: string;
  /** Entity ids starting with this text (e.g. `model/` for every version of a model). */
  entityIdPrefix?: string;
  action?: string;
  /** Events recorded at or after this time (ms since the epoch). */
  since?: number;
  /**
   * Newest first (highest `seq` first), so that `limit` keeps the latest events. Default false:
   * commit order, which is the order the hash chain is walked in.
   */
  newestFirst?: boolean;
}

export interface AuditLog {
  /** Events in commit order (or newest first), from `afterSeq` (exclusive), optionally for one entity. */
  listAuditEvents(q?: AuditQuery): Promise<AuditEvent[]>;
}
