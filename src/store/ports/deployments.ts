/**
 * Deployments: an endpoint name and the routes that serve it. Each route names a model version by
 * reference (`name@alias` or `name/version`, resolved by the serving replicas each time the
 * registry moves), its role and its share of the traffic:
 *
 * - `primary`: answers the traffic the other roles leave (its share is what is left);
 * - `canary`: answers its share of the requests, drawn at random;
 * - `shadow`: receives a copy of every request; its answer is logged, never returned (share 0);
 * - `arm`: one arm of a sticky A/B test; a request's arm is chosen by a hash of its sticky key,
 *   stable across replicas and restarts; the arms' shares add up to 100.
 *
 * Invariants the adapter owns: endpoint names are unique case-insensitively after NFC; every
 * change bumps the deployment's revision, keeps the routes it replaced as a revision of the
 * history (what `rollback` restores), and is audited in its own transaction; a change that names
 * the revision it was based on fails when another change came first (no lost update).
 */
import type { Actor } from './common.js';

export const ROUTE_ROLES = ['primary', 'canary', 'shadow', 'arm'] as const;
export type RouteRole = (typeof ROUTE_ROLES)[number];

export interface DeploymentRoute {
  role: RouteRole;
  /** `name@alias` or `name/version`. */
  model: string;
  /** Percent of the traffic (0–100); a primary's is what canaries leave; a shadow's is 0. */
  share: number;
  /** The arm's name, for `arm` routes. */
  arm?: string;
}

/** One service-level check of a progressive rollout: `p99_ms < 50`, `error_rate < 0.01`, `rmse <= 1.05*primary`. */
export interface SloCheck {
  metric: 'error_rate' | 'p50_ms' | 'p95_ms' | 'p99_ms' | 'rmse' | 'mae' | 'accuracy' | 'error';
  op: '<' | '<=' | '>' | '>=';
  value: number;
  /** The threshold is `value` times the primary's figure over the same window. */
  relative: boolean;
}

/** A progressive rollout in progress: the canary's share goes through `steps`, each held until its checks pass. */
export interface Rollout {
  /** The candidate, as the canary route names it. */
  model: string;
  /** Canary shares in percent, ascending; the last is 100 (promotion). */
  steps: number[];
  /** Index of the current step. */
  step: number;
  holdMs: number;
  slo: SloCheck[];
  /** The checks as written, for people. */
  sloText: string;
  /** Requests the canary must answer in a step before it is judged. */
  minRequests: number;
  /** Labelled rows needed before a model metric (rmse, accuracy, …) is judged. */
  minLabels: number;
  startedAt: number;
  stepStartedAt: number;
  startedBy: string;
}

export interface DeploymentSpec {
  routes: DeploymentRoute[];
  /** The rollout in progress, if any. */
  rollout?: Rollout;
  /** For A/B arms: `header:<name>` or `field:<name>`, the request key whose hash picks the arm. */
  stickyKey?: string;
  /** Anonymous callers may invoke the endpoint (auth on); off unless asked for. */
  public?: boolean;
}

export interface Deployment extends DeploymentSpec {
  name: string;
  /** 1 at creation, +1 on every change. */
  revision: number;
  createdAt: number;
  createdBy: string;
  updatedAt: number;
  updatedBy: string;
  public: boolean;
}

/** One state a deployment held: the spec of a revision, who wrote it and why. */
export interface DeploymentRevision extends DeploymentSpec {
  name: string;
  revision: number;
  at: number;
  by: string;
  /** `create`, `set_traffic`, `promote`, `rollback`, `rollout_advance`, … */
  change: string;
  reason?: string;
}

export interface DeploymentChange {
  spec: DeploymentSpec;
  /** What kind of change this is, recorded in the revision and as the audit event's action. */
  change: string;
  /** Why (a person's note, or the numbers behind an automated decision); kept in the revision and the audit event. */
  reason?: string;
  /** Fail with TRELLIS_DEPLOYMENT_CONFLICT unless the deployment is still at this revision. */
  expectRevision?: number;
  /** Extra facts for the audit event (e.g. the SLO figures of a rollback). */
  evidence?: Record<string, unknown>;
}

export interface DeploymentStore {
  /** Refuses a name taken (case-insensitively) with TRELLIS_DEPLOYMENT_EXISTS. The spec is taken as checked by the caller. */
  create(name: string, spec: DeploymentSpec, who: Actor, reason?: string): Promise<Deployment>;
  /** Undefined when there is none. */
  find(name: string): Promise<Deployment | undefined>;
  list(): Promise<Deployment[]>;
  /** Replaces the spec; TRELLIS_DEPLOYMENT_NOT_FOUND, TRELLIS_DEPLOYMENT_CONFLICT. */
  update(name: string, change: DeploymentChange, who: Actor): Promise<Deployment>;
  /** Revisions, newest first. */
  history(name: string, limit?: number): Promise<DeploymentRevision[]>;
  /** Deletes the deployment and its history (the audit trail keeps both). */
  delete(name: string, who: Actor): Promise<void>;
  /** Records a decision that changes nothing (a rollout holding, with its numbers) as an audit event. */
  recordDecision(name: string, action: string, evidence: Record<string, unknown>, who: Actor): Promise<void>;
  /**
   * Takes or renews the named lease for `holder` until `now + ttlMs`; true when `holder` holds it
   * after the call. Of replicas racing, exactly one wins; a lease not renewed expires.
   */
  acquireLease(lease: string, holder: string, ttlMs: number): Promise<boolean>;
  /**
   * Calls `onChange` soon after any deployment or model alias changes, from any process, until the
   * returned function is called; undefined where the store cannot push changes (callers poll).
   */
  watch(onChange: () => void): Promise<(() => Promise<void>) | undefined>;
}
