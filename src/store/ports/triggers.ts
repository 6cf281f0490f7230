/**
 * The trigger port: requests to run a pipeline and what became of them. Drawn apart from the
 * pipeline port because its writers are many and unrelated (the scheduler's cron and dataset
 * watchers, the API, monitors that ask for a retrain) while its one reader is the scheduler: the
 * records are how engines that may not import each other meet.
 *
 * Invariants the adapter owns:
 * - a `dedupeKey` is unique: the same event never makes two records;
 * - claiming is atomic: two schedulers never claim one record, and `exclusive` claims decide "one
 *   running per pipeline" in the same transaction as the claim;
 * - `updateTrigger` with `expectStatus` is a compare-and-set;
 * - every state change is audited in its transaction; `touchTriggers` (a sign of life) is not.
 */
import type { Actor } from './common.js';

export type TriggerKind = 'cron' | 'dataset' | 'pipeline' | 'api' | 'record';
export type TriggerStatus = 'pending' | 'running' | 'finished' | 'failed' | 'skipped' | 'cancelled';
export type TriggerParams = Record<string, string | number | boolean>;

/**
 * A request to run a pipeline and what became of it: written by the scheduler (a cron time, a new
 * dataset version, an upstream run), by the API, or by another part of the platform (`record`).
 */
export interface TriggerRecord {
  id: number;
  pipeline: string;
  kind: TriggerKind;
  reason: string;
  params: TriggerParams;
  /** Unique when set: the event it stands for, so that the same event never makes two records. */
  dedupeKey?: string;
  status: TriggerStatus;
  createdAt: number;
  updatedAt: number;
  requestedBy: string;
  /** The scheduler that took it (pending → running). */
  claimedBy?: string;
  claimedAt?: number;
  /** The claiming scheduler's last sign of life while the run goes on. */
  heartbeatAt?: number;
  /** The pipeline version that ran. */
  version?: number;
  /** The pipeline run it started. */
  runId?: string;
  /** Why it is in its status: the reason for a skip, the error of a failure, … */
  detail?: string;
}

export interface CreateTriggerInput {
  pipeline: string;
  kind: TriggerKind;
  reason?: string;
  params?: TriggerParams;
  dedupeKey?: string;
}

export interface ClaimTriggersQuery {
  /** Who claims: recorded as `claimedBy`. */
  claimer: string;
  /** Only this pipeline's triggers (default: every pipeline's). */
  pipeline?: string;
  /** Only these triggers. */
  ids?: number[];
  /** At most this many (default 1). */
  limit?: number;
  /**
   * At most one per pipeline, and none of a pipeline that has a trigger `running`: for policies
   * under which a pipeline runs once at a time, decided in the same transaction as the claim.
   */
  exclusive?: boolean;
}

export interface TriggerPatch {
  status?: TriggerStatus;
  detail?: string;
  runId?: string;
  version?: number;
  /** Apply the patch only when the record is in one of these statuses (a compare-and-set). */
  expectStatus?: TriggerStatus[];
}

export interface ListTriggersQuery {
  pipeline?: string;
  status?: TriggerStatus | TriggerStatus[];
  claimedBy?: string;
  /** Default 100. */
  limit?: number;
  /** Oldest first (default: newest first). */
  oldestFirst?: boolean;
}

export interface TriggerStore {
  /** Writes a trigger record (pending); with a `dedupeKey` seen before, returns that record with `created: false`. */
  createTrigger(input: CreateTriggerInput, who: Actor): Promise<{ trigger: TriggerRecord; created: boolean }>;
  getTrigger(id: number): Promise<TriggerRecord>;
  /** Moves pending records to running for `claimer`, atomically: two schedulers never claim one record. */
  claimTriggers(q: ClaimTriggersQuery, who: Actor): Promise<TriggerRecord[]>;
  /** The record after the patch, or undefined when `expectStatus` did not hold (nothing written). */
  updateTrigger(id: number, patch: TriggerPatch, who: Actor): Promise<TriggerRecord | undefined>;
  /** Marks the claimer alive on its running records (not audited: a sign of life changes no state). */
  touchTriggers(claimer: string): Promise<number>;
  listTriggers(q?: ListTriggersQuery): Promise<TriggerRecord[]>;
}
