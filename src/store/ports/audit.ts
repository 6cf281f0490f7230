/**
 * The audit log: the hash-chained record of every change made through the other ports. It has no
 * write method on purpose: an event is appended by the adapter of the port that made the change,
 * inside that change's transaction, so that there is no state change without its record and no
 * record without its change. This port only reads the chain (`audit-chain.ts` verifies it).
 *
 * Invariants the adapter owns: events are numbered by `seq` in commit order with no gaps, each
 * event's `prevHash` is the previous event's `hash`, and an event is never changed once written.
 *
 * Checkpoints: a signed statement "event `seq` has hash `hash`, and the trail then held `count`
 * events", signed with a key kept outside the store (`audit-signing.ts`). Someone who can write to
 * the database can rewrite events and recompute every later hash, but cannot sign: the rewritten
 * chain no longer reaches the checkpointed hash, and a cut-off tail no longer reaches the last
 * checkpoint's event. The adapter writes one in the transaction of every N-th event
 * ({@link AuditLog.signCheckpoints}), and on demand ({@link AuditLog.writeCheckpoint}).
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

export interface AuditCheckpoint {
  /** 1, 2, 3, … in the order they were written. */
  id: number;
  /** The event checkpointed, and its hash. */
  seq: number;
  hash: string;
  /** When it was signed (ms since the epoch). */
  time: number;
  /** How many events the trail held (events are numbered 1..n without gaps, so `count` = `seq`). */
  count: number;
  /** The signer's public key (PEM) and its id, as recorded: a verifier must not trust them alone. */
  keyId: string;
  publicKey: string;
  /** Base64 ed25519 signature of `checkpointPayload(…)` (audit-chain.ts). */
  signature: string;
}

/** Signs checkpoints; the private key stays with it, outside the store. */
export interface CheckpointSigner {
  readonly keyId: string;
  readonly publicKey: string;
  /** The base64 signature of `payload`. */
  sign(payload: string): string;
}

/** The registry's current rows the chain describes, and the last event written when they were read. */
export interface RegistrySnapshot {
  seq: number;
  aliases: { model: string; alias: string; version: string }[];
  versions: { model: string; version: string; stage: string; source: string }[];
  datasetVersions: { dataset: string; version: string; sha256: string; source: string }[];
}

export interface AuditLog {
  /** Events in commit order (or newest first), from `afterSeq` (exclusive), optionally for one entity. */
  listAuditEvents(q?: AuditQuery): Promise<AuditEvent[]>;
  /** Every checkpoint, oldest first. */
  listCheckpoints(): Promise<AuditCheckpoint[]>;
  /**
   * Signs a checkpoint of the last event, unless the latest checkpoint already covers it; returns
   * the checkpoint that covers the last event (undefined while the trail is empty). With
   * `ifAppended`, only when this adapter itself appended events since its last checkpoint (on
   * shutdown: a reader — an auditor's `verify` — signs nothing).
   */
  writeCheckpoint(signer: CheckpointSigner, opts?: { ifAppended?: boolean }): Promise<AuditCheckpoint | undefined>;
  /** From now on, signs a checkpoint in the transaction of every `every`-th event (seq a multiple of it). */
  signCheckpoints(signer: CheckpointSigner, every: number): void;
  /** The current alias, model-version and dataset-version rows, read in one transaction with the seq of the last event, for verification. */
  registrySnapshot(): Promise<RegistrySnapshot>;
}
