/**
 * Deployments as the CLI, the SDK and the REST API change them: the one door to the deployment
 * port. It checks a spec before anything is written — one primary (or A/B arms adding up to
 * 100%), canary shares that leave the primary some traffic, references that name an existing model
 * version — and turns the operations people ask for (set traffic, promote, roll back) into specs.
 * Every change is audited by the store in the transaction that makes it.
 */
import { TrellisError, invalid } from '../core/errors.js';
import { parseModelRef } from '../core/refs.js';
import type { RegistryService } from '../registry/registry-service.js';
import type { Actor } from '../store/ports/common.js';
import type { Deployment, DeploymentRevision, DeploymentRoute, DeploymentSpec, DeploymentStore, Rollout } from '../store/ports/deployments.js';
import type { Decision } from './rollout.js';

export const MAX_ROUTES = 16;
const ARM_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
const STICKY_RE = /^(header|field):[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** What `trellis deployments create` asks for. */
export interface DeploymentRequest {
  /** The primary's model reference; absent for an A/B test, whose arms take all the traffic. */
  model?: string;
  canary?: { model: string; share: number };
  shadow?: string;
  /** A/B arms: reference and share; the arm is named by `arm` or by its position (`a`, `b`, …). */
  ab?: { model: string; share: number; arm?: string }[];
  stickyKey?: string;
  public?: boolean;
}

/** The model names a spec routes to, for permission checks. */
export function modelsOf(spec: DeploymentSpec): string[] {
  return [...new Set(spec.routes.map((r) => parseModelRef(r.model).name))];
}

/** Builds the spec a request describes (unchecked: {@link DeploymentService.check} checks it). */
export function specOf(req: DeploymentRequest): DeploymentSpec {
  const routes: DeploymentRoute[] = [];
  if (req.ab?.length) {
    if (req.model !== undefined) throw invalid('An A/B test routes all the traffic to its arms: give --ab without --model');
    req.ab.forEach((a, i) => routes.push({ role: 'arm', model: a.model, share: a.share, arm: a.arm ?? String.fromCharCode(97 + i) }));
  } else {
    if (req.model === undefined) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'model' });
    const canary = req.canary?.share ?? 0;
    routes.push({ role: 'primary', model: req.model, share: 100 - canary });
    if (req.canary) routes.push({ role: 'canary', model: req.canary.model, share: req.canary.share });
  }
  if (req.shadow !== undefined) routes.push({ role: 'shadow', model: req.shadow, share: 0 });
  return { routes, ...(req.stickyKey !== undefined ? { stickyKey: req.stickyKey } : {}), ...(req.public !== undefined ? { public: req.public } : {}) };
}

function checkShare(s: unknown, what: string, min: number, max: number): number {
  if (typeof s !== 'number' || !Number.isFinite(s) || s < min || s > max || Math.round(s * 100) !== s * 100) {
    throw invalid(`Invalid share ${JSON.stringify(s)} for ${what}: a percentage from ${min} to ${max}, at most two decimals`);
  }
  return s;
}

export class DeploymentService {
  constructor(private readonly store: DeploymentStore, private readonly registry: RegistryService) {}

  /**
   * Checks a spec and returns it normalised: each route's reference parses as a model version
   * reference (`name@alias`, `name/3`; `name@3` is written `name/3`) and resolves to a version that
   * exists now; the shares add up.
   */
  async check(spec: DeploymentSpec): Promise<DeploymentSpec> {
    if (!spec || !Array.isArray(spec.routes) || spec.routes.length === 0) throw invalid("A deployment needs at least one route: give 'model' (the primary)");
    if (spec.routes.length > MAX_ROUTES) throw invalid(`A deployment has at most ${MAX_ROUTES} routes, got ${spec.routes.length}`);
    const routes: DeploymentRoute[] = [];
    for (const [i, r] of spec.routes.entries()) {
      if (!r || typeof r !== 'object') throw invalid(`Route ${i + 1} is not an object`);
      if (!['primary', 'canary', 'shadow', 'arm'].includes(r.role)) throw invalid(`Route ${i + 1} has role ${JSON.stringify(r.role)}: must be primary, canary, shadow or arm`);
      if (typeof r.model !== 'string' || r.model.trim() === '') throw invalid(`Route ${i + 1} (${r.role}) names no model: give name@alias or name/version`);
      const ref = parseModelRef(r.model.trim());
      const v = await this.registry.resolve(ref);
      const model = ref.selector.kind === 'alias' ? `${v.name}@${ref.selector.alias}` : ref.selector.kind === 'latest' ? `${v.name}@latest` : `${v.name}/${v.version}`;
      const route: DeploymentRoute = { role: r.role, model, share: r.role === 'shadow' ? 0 : checkShare(r.share, `the ${r.role} ${model}`, 0, 100) };
      if (r.role === 'arm') {
        const arm = r.arm ?? '';
        if (typeof arm !== 'string' || !ARM_RE.test(arm)) throw invalid(`Invalid arm name ${JSON.stringify(arm)} for ${model}: letters, digits, '_' and '-', up to 32`);
        route.arm = arm;
      }
      routes.push(route);
    }
    const of = (role: string) => routes.filter((r) => r.role === role);
    const arms = of('arm');
    const sum = (rs: DeploymentRoute[]) => Math.round(rs.reduce((s, r) => s + r.share * 100, 0)) / 100;
    if (arms.length) {
      if (of('primary').length || of('canary').length) throw invalid('An A/B test routes all the traffic to its arms: it has no primary or canary route');
      if (arms.length < 2) throw invalid('An A/B test needs at least two arms');
      if (new Set(arms.map((a) => a.arm!.toLowerCase())).size !== arms.length) throw invalid(`Arm names must differ: ${arms.map((a) => a.arm).join(', ')}`);
      if (sum(arms) !== 100) throw invalid(`The arms' shares add up to ${sum(arms)}%, not 100%`);
      if (arms.some((a) => a.share <= 0)) throw invalid('Every arm needs a share above 0%');
      if (!spec.stickyKey) throw invalid('An A/B test needs a sticky key (--sticky-key header:<name> or field:<name>): the request key whose hash picks the arm');
    } else {
      if (of('primary').length !== 1) throw invalid(`A deployment has exactly one primary route, got ${of('primary').length}`);
      const canaries = sum(of('canary'));
      if (of('canary').some((c) => c.share <= 0 || c.share >= 100)) throw invalid('A canary takes more than 0% and less than 100% of the traffic; promote it to give it all');
      if (canaries >= 100) throw invalid(`The canaries take ${canaries}% of the traffic: they must leave the primary some`);
      of('primary')[0]!.share = Math.round((100 - canaries) * 100) / 100;
    }
    if (spec.stickyKey !== undefined && (typeof spec.stickyKey !== 'string' || !STICKY_RE.test(spec.stickyKey))) {
      throw invalid(`Invalid sticky key ${JSON.stringify(spec.stickyKey)}: write header:<name> (e.g. header:x-user-id) or field:<name> (a request field)`);
    }
    if (spec.public !== undefined && typeof spec.public !== 'boolean') throw invalid("'public' must be true or false");
    // Roles in a fixed order, so that equal specs read the same.
    const order = { primary: 0, canary: 1, arm: 2, shadow: 3 } as const;
    routes.sort((a, b) => order[a.role] - order[b.role]);
    return { routes, ...(spec.stickyKey ? { stickyKey: spec.stickyKey } : {}), public: spec.public === true, ...(spec.rollout ? { rollout: spec.rollout } : {}) };
  }

  async create(name: string, req: DeploymentRequest | DeploymentSpec, who: Actor, reason?: string): Promise<Deployment> {
    const spec = await this.check('routes' in req ? req : specOf(req));
    return this.store.create(name, spec, who, reason);
  }

  async get(name: string): Promise<Deployment> {
    const d = await this.store.find(name);
    if (!d) throw new TrellisError('TRELLIS_DEPLOYMENT_NOT_FOUND', { name: String(name).slice(0, 100) });
    return d;
  }

  find(name: string): Promise<Deployment | undefined> {
    return this.store.find(name);
  }

  list(): Promise<Deployment[]> {
    return this.store.list();
  }

  history(name: string, limit?: number): Promise<DeploymentRevision[]> {
    return this.store.history(name, limit);
  }

  /** Replaces the routes (and optionally the sticky key or `public`) with a checked spec. */
  async replace(name: string, spec: DeploymentSpec, who: Actor, o: { change?: string; reason?: string; expectRevision?: number; evidence?: Record<string, unknown> } = {}): Promise<Deployment> {
    const checked = await this.check(spec);
    return this.store.update(name, { spec: checked, change: o.change ?? 'set_traffic', reason: o.reason, expectRevision: o.expectRevision, evidence: o.evidence }, who);
  }

  /**
   * Changes the traffic: a canary's share (a new canary, or 0 to remove it), the shadow (null
   * removes it), the A/B arms. What the request leaves out stays as it was.
   */
  async setTraffic(name: string, req: { canary?: { model: string; share: number } | null; shadow?: string | null; ab?: { model: string; share: number; arm?: string }[]; stickyKey?: string; public?: boolean }, who: Actor, reason?: string): Promise<Deployment> {
    const d = await this.get(name);
    let routes = d.routes.map((r) => ({ ...r }));
    if (req.ab) routes = [...specOf({ ab: req.ab }).routes, ...routes.filter((r) => r.role === 'shadow')];
    if (req.canary !== undefined) {
      routes = routes.filter((r) => r.role !== 'canary');
      if (req.canary && req.canary.share > 0) routes.push({ role: 'canary', model: req.canary.model, share: req.canary.share });
      const primary = routes.find((r) => r.role === 'primary');
      if (!primary) throw invalid(`'${d.name}' is an A/B test: change its arms with --ab, or promote an arm first`);
      primary.share = 100 - (req.canary?.share ?? 0);
    }
    if (req.shadow !== undefined) {
      routes = routes.filter((r) => r.role !== 'shadow');
      if (req.shadow) routes.push({ role: 'shadow', model: req.shadow, share: 0 });
    }
    const spec: DeploymentSpec = { routes, stickyKey: req.stickyKey ?? d.stickyKey, public: req.public ?? d.public };
    return this.replace(d.name, spec, who, { change: 'set_traffic', reason, expectRevision: d.revision });
  }

  /**
   * Gives all the traffic to the canary (or to the named A/B arm): it becomes the primary; the
   * shadow stays. A deployment with neither is refused with what to do instead.
   */
  async promote(name: string, who: Actor, o: { arm?: string; reason?: string; expectRevision?: number; evidence?: Record<string, unknown>; change?: string } = {}): Promise<Deployment> {
    const d = await this.get(name);
    const shadow = d.routes.filter((r) => r.role === 'shadow');
    let winner: DeploymentRoute | undefined;
    if (o.arm !== undefined) {
      winner = d.routes.find((r) => r.role === 'arm' && r.arm?.toLowerCase() === o.arm!.toLowerCase());
      if (!winner) throw invalid(`'${d.name}' has no arm '${o.arm}'${d.routes.some((r) => r.role === 'arm') ? `; its arms: ${d.routes.filter((r) => r.role === 'arm').map((r) => r.arm).join(', ')}` : ''}`);
    } else {
      const canaries = d.routes.filter((r) => r.role === 'canary');
      if (canaries.length !== 1) {
        throw invalid(d.routes.some((r) => r.role === 'arm')
          ? `'${d.name}' is an A/B test: name the arm to promote (--arm)`
          : `'${d.name}' has ${canaries.length === 0 ? 'no canary' : `${canaries.length} canaries`} to promote`);
      }
      winner = canaries[0]!;
    }
    const spec: DeploymentSpec = { routes: [{ role: 'primary', model: winner.model, share: 100 }, ...shadow], public: d.public, ...(d.stickyKey ? { stickyKey: d.stickyKey } : {}) };
    return this.replace(d.name, spec, who, { change: o.change ?? 'promote', reason: o.reason, expectRevision: o.expectRevision ?? d.revision, evidence: o.evidence });
  }

  /**
   * Rolls back: a deployment with a canary drops it (the primary takes all the traffic again);
   * one without returns to the routes of the revision before the current one.
   */
  async rollback(name: string, who: Actor, o: { reason?: string; expectRevision?: number; evidence?: Record<string, unknown> } = {}): Promise<Deployment> {
    const d = await this.get(name);
    let spec: DeploymentSpec;
    if (d.routes.some((r) => r.role === 'canary')) {
      spec = { routes: d.routes.filter((r) => r.role !== 'canary').map((r) => (r.role === 'primary' ? { ...r, share: 100 } : r)), public: d.public, ...(d.stickyKey ? { stickyKey: d.stickyKey } : {}) };
    } else {
      const [, previous] = await this.store.history(d.name, 2);
      if (!previous) throw invalid(`'${d.name}' has no canary and no earlier revision to roll back to`);
      spec = { routes: previous.routes, public: previous.public, ...(previous.stickyKey ? { stickyKey: previous.stickyKey } : {}) };
    }
    return this.replace(d.name, spec, who, { change: 'rollback', reason: o.reason, expectRevision: o.expectRevision ?? d.revision, evidence: o.evidence });
  }

  delete(name: string, who: Actor): Promise<void> {
    return this.store.delete(name, who);
  }

  /**
   * Starts a progressive rollout of `model` on a deployment with a primary: the candidate becomes
   * the canary at the first step's share; `trellis serve`'s controller takes it from there.
   */
  async startRollout(name: string, o: Omit<Rollout, 'step' | 'startedAt' | 'stepStartedAt' | 'startedBy'>, who: Actor, now = Date.now()): Promise<Deployment> {
    const d = await this.get(name);
    if (d.rollout) throw invalid(`'${d.name}' is already rolling out ${d.rollout.model} (step ${d.rollout.step + 1} of ${d.rollout.steps.length}); roll it back or let it finish first`);
    if (!d.routes.some((r) => r.role === 'primary')) throw invalid(`'${d.name}' has no primary route (it is an A/B test): a rollout moves traffic from the primary to a candidate`);
    if (!Number.isSafeInteger(o.holdMs) || o.holdMs < 0) throw invalid('The hold time must be a duration of zero or more');
    if (!Number.isSafeInteger(o.minRequests) || o.minRequests < 1) throw invalid('--min-requests must be at least 1');
    if (!Number.isSafeInteger(o.minLabels) || o.minLabels < 1) throw invalid('--min-labels must be at least 1');
    const rollout: Rollout = { ...o, step: 0, startedAt: now, stepStartedAt: now, startedBy: who.actor };
    const routes = [...d.routes.filter((r) => r.role !== 'canary'), { role: 'canary' as const, model: o.model, share: o.steps[0]! }];
    const spec: DeploymentSpec = { routes, public: d.public, ...(d.stickyKey ? { stickyKey: d.stickyKey } : {}), rollout };
    const checked = await this.check(spec);
    // The rollout names the candidate as the canary route does after normalisation.
    checked.rollout = { ...rollout, model: checked.routes.find((r) => r.role === 'canary')!.model };
    return this.store.update(d.name, {
      spec: checked, change: 'rollout_start', expectRevision: d.revision,
      reason: `rollout of ${o.model}: steps ${o.steps.join(', ')}%, hold ${Math.round(o.holdMs / 1000)} s, SLO ${o.sloText}`,
    }, who);
  }

  /** Applies a controller's decision (advance, promote, rollback) as a revision whose audit event carries its numbers. */
  async applyDecision(d: Deployment, decision: Decision, who: Actor, now = Date.now()): Promise<Deployment> {
    const r = d.rollout;
    if (!r) throw invalid(`'${d.name}' has no rollout in progress`);
    const evidence = { step: decision.step, share: decision.share, requests: decision.requests, heldMs: decision.heldMs, checks: decision.checks };
    const o = { reason: decision.reason, expectRevision: d.revision, evidence };
    if (decision.action === 'rollback') {
      const spec: DeploymentSpec = { routes: d.routes.filter((x) => x.role !== 'canary').map((x) => (x.role === 'primary' ? { ...x, share: 100 } : x)), public: d.public, ...(d.stickyKey ? { stickyKey: d.stickyKey } : {}) };
      return this.replace(d.name, spec, who, { ...o, change: 'rollout_rollback' });
    }
    if (decision.action === 'promote') {
      const spec: DeploymentSpec = { routes: [{ role: 'primary', model: r.model, share: 100 }, ...d.routes.filter((x) => x.role === 'shadow')], public: d.public, ...(d.stickyKey ? { stickyKey: d.stickyKey } : {}) };
      return this.replace(d.name, spec, who, { ...o, change: 'rollout_promote' });
    }
    if (decision.action === 'advance') {
      const step = r.step + 1;
      const routes = d.routes.map((x) => (x.role === 'canary' ? { ...x, share: r.steps[step]! } : x));
      const spec: DeploymentSpec = { routes, public: d.public, ...(d.stickyKey ? { stickyKey: d.stickyKey } : {}), rollout: { ...r, step, stepStartedAt: now } };
      return this.replace(d.name, spec, who, { ...o, change: 'rollout_advance' });
    }
    throw invalid(`A '${decision.action}' decision changes nothing: record it instead`);
  }

  /** Records a decision that changes nothing (a hold) as an audit event with its numbers. */
  recordDecision(d: Deployment, decision: Decision, who: Actor): Promise<void> {
    return this.store.recordDecision(d.name, `rollout_${decision.action}`, { reason: decision.reason, step: decision.step, share: decision.share, requests: decision.requests, heldMs: decision.heldMs, checks: decision.checks }, who);
  }

  acquireLease(lease: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.store.acquireLease(lease, holder, ttlMs);
  }

  /** Calls `onChange` when a deployment or an alias changes (PostgreSQL); undefined where the store cannot tell (SQLite: poll). */
  watch(onChange: () => void): Promise<(() => Promise<void>) | undefined> {
    return this.store.watch(onChange);
  }
}
