/**
 * The audit chain: each event carries the hash of the one before it, so altering, removing or
 * reordering any stored event breaks every hash after it. The hash covers the event's content
 * and its position (seq); `verifyAuditChain` names the first event that does not fit.
 */
import { canonicalJson, sha256Hex } from '../core/hash.js';
import type { AuditCheckpoint, AuditEvent, CheckpointSigner, RegistrySnapshot } from './ports/audit.js';
import type { TrustedKey } from './audit-signing.js';

export const GENESIS_HASH = '0'.repeat(64);

export type AuditContent = Omit<AuditEvent, 'hash' | 'prevHash'>;

export function auditHash(prevHash: string, e: AuditContent): string {
  return sha256Hex(
    prevHash +
      canonicalJson({
        seq: e.seq,
        time: e.time,
        actor: e.actor,
        action: e.action,
        entityType: e.entityType,
        entityId: e.entityId,
        before: e.before ?? null,
        after: e.after ?? null,
      }),
  );
}

export interface AuditVerification {
  ok: boolean;
  checked: number;
  /** The first event that was altered, removed or reordered, and what is wrong with it. */
  firstBad?: { seq: number; problem: 'altered' | 'removed' | 'reordered'; detail: string };
  /** Signed checkpoints checked. */
  checkpoints?: number;
  /** Everything found wrong, first problem first (the chain, the checkpoints, the tail, the aliases). */
  problems?: string[];
}

/** The text a checkpoint's signature covers. */
export function checkpointPayload(c: Pick<AuditCheckpoint, 'id' | 'seq' | 'hash' | 'time' | 'count'>): string {
  return canonicalJson({ kind: 'trellis.audit-checkpoint/v1', id: c.id, seq: c.seq, hash: c.hash, time: c.time, count: c.count });
}

export function signCheckpoint(signer: CheckpointSigner, c: Pick<AuditCheckpoint, 'id' | 'seq' | 'hash' | 'time' | 'count'>): AuditCheckpoint {
  return { ...c, keyId: signer.keyId, publicKey: signer.publicKey, signature: signer.sign(checkpointPayload(c)) };
}

/**
 * Walks events in stored order. `startSeq`/`startHash` let a caller verify in pages: pass the last
 * verified event's seq and hash.
 */
export function verifyAuditChain(
  events: Iterable<AuditEvent>,
  start: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH },
): AuditVerification & { last: { seq: number; hash: string } } {
  let prev = start;
  let checked = 0;
  for (const e of events) {
    if (e.seq !== prev.seq + 1) {
      const problem = e.seq < prev.seq + 1 ? 'reordered' : 'removed';
      const detail =
        problem === 'removed'
          ? `event ${prev.seq + 1} is missing (found ${e.seq} after ${prev.seq})`
          : `event ${e.seq} appears after ${prev.seq}`;
      return { ok: false, checked, firstBad: { seq: prev.seq + 1, problem, detail }, last: prev };
    }
    if (e.prevHash !== prev.hash) {
      return {
        ok: false,
        checked,
        firstBad: { seq: e.seq, problem: 'reordered', detail: `its previous-hash does not match event ${prev.seq}` },
        last: prev,
      };
    }
    const expected = auditHash(prev.hash, e);
    if (expected !== e.hash) {
      return {
        ok: false,
        checked,
        firstBad: { seq: e.seq, problem: 'altered', detail: `its content no longer matches its hash` },
        last: prev,
      };
    }
    prev = { seq: e.seq, hash: e.hash };
    checked++;
  }
  return { ok: true, checked, last: prev };
}

/** Verifies a store's whole chain page by page, so memory stays bounded however long it is. */
export async function verifyStoredChain(
  list: (q: { afterSeq: number; limit: number }) => Promise<AuditEvent[]>,
  pageSize = 5000,
): Promise<AuditVerification> {
  let start = { seq: 0, hash: GENESIS_HASH };
  let checked = 0;
  for (;;) {
    const events = await list({ afterSeq: start.seq, limit: pageSize });
    const result = verifyAuditChain(events, start);
    checked += result.checked;
    if (!result.ok) return { ok: false, checked, firstBad: result.firstBad };
    start = result.last;
    if (events.length < pageSize) return { ok: true, checked };
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The registry and the datasets as the chain's events describe them: aliases, model versions' stage and source, dataset versions' content. */
class RegistryReplay {
  readonly aliases = new Map<string, Map<string, string>>();
  readonly versions = new Map<string, Map<string, { stage: string; source: string }>>();
  /** `name@version` → what the dataset version was created with (dataset versions are never changed or removed). */
  readonly datasetVersions = new Map<string, { sha256: string; source: string }>();

  private static of<V>(maps: Map<string, Map<string, V>>, name: string): Map<string, V> {
    let m = maps.get(name);
    if (!m) maps.set(name, (m = new Map<string, V>()));
    return m;
  }

  apply(e: AuditEvent): void {
    const before = (e.before ?? {}) as Record<string, unknown>;
    const after = (e.after ?? {}) as Record<string, unknown>;
    if (e.entityType === 'dataset_version' && e.action === 'create_dataset_version') {
      this.datasetVersions.set(`${String(after.name)}@${String(after.version)}`, { sha256: String(after.sha256), source: String(after.source) });
      return;
    }
    if (e.entityType === 'model_version') {
      const slash = e.entityId.lastIndexOf('/');
      const model = e.entityId.slice(0, slash);
      const version = e.entityId.slice(slash + 1);
      const versions = RegistryReplay.of(this.versions, model);
      switch (e.action) {
        case 'create_model_version':
          versions.set(version, { stage: 'None', source: String(after.source) });
          break;
        case 'transition_stage': {
          const v = versions.get(version);
          if (v) v.stage = String(after.stage);
          break;
        }
        case 'delete_model_version':
          versions.delete(version);
          break;
      }
      return;
    }
    if (e.entityType !== 'registered_model') return;
    switch (e.action) {
      case 'set_alias':
        RegistryReplay.of(this.aliases, e.entityId).set(String(after.alias), String(after.version));
        break;
      case 'delete_alias':
        RegistryReplay.of(this.aliases, e.entityId).delete(String(after.alias ?? before.alias));
        break;
      case 'rename_registered_model':
        for (const maps of [this.aliases, this.versions] as Map<string, Map<string, unknown>>[]) {
          const moved = maps.get(e.entityId);
          maps.delete(e.entityId);
          if (moved) maps.set(String(after.name), moved);
        }
        break;
      case 'delete_registered_model':
        this.aliases.delete(e.entityId);
        this.versions.delete(e.entityId);
        break;
    }
  }

  /** What differs between the rows and the chain, one sentence each. */
  compare(rows: RegistrySnapshot): string[] {
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const r of rows.aliases) {
      const key = `${r.model}@${r.alias}`;
      seen.add(key);
      const recorded = this.aliases.get(r.model)?.get(r.alias);
      if (recorded === undefined) {
        problems.push(`alias ${key} points at version ${r.version} in the registry, but the audit trail never set it: the row was written behind the trail's back`);
      } else if (recorded !== r.version) {
        problems.push(`alias ${key} points at version ${r.version} in the registry, but the audit trail last set it to version ${recorded}: the row was changed behind the trail's back`);
      }
    }
    for (const [model, aliases] of this.aliases) {
      for (const [alias, version] of aliases) {
        if (!seen.has(`${model}@${alias}`)) {
          problems.push(`alias ${model}@${alias} is missing from the registry, but the audit trail last set it to version ${version}: the row was removed behind the trail's back`);
        }
      }
    }
    const seenVersions = new Set<string>();
    for (const r of rows.versions) {
      const key = `${r.model}/${r.version}`;
      seenVersions.add(key);
      const recorded = this.versions.get(r.model)?.get(r.version);
      if (!recorded) {
        problems.push(`model version ${key} is in the registry, but the audit trail never created it: the row was written behind the trail's back`);
        continue;
      }
      if (recorded.stage !== r.stage) {
        problems.push(`model version ${key} is in stage ${r.stage} in the registry, but the audit trail last moved it to ${recorded.stage}: the row was changed behind the trail's back`);
      }
      if (recorded.source !== r.source) {
        problems.push(`model version ${key} has source ${r.source} in the registry, but the audit trail created it from ${recorded.source}: the row was changed behind the trail's back`);
      }
    }
    for (const [model, versions] of this.versions) {
      for (const version of versions.keys()) {
        if (!seenVersions.has(`${model}/${version}`)) {
          problems.push(`model version ${model}/${version} is missing from the registry, but the audit trail never deleted it: the row was removed behind the trail's back`);
        }
      }
    }
    const seenData = new Set<string>();
    for (const r of rows.datasetVersions) {
      const key = `${r.dataset}@${r.version}`;
      seenData.add(key);
      const recorded = this.datasetVersions.get(key);
      if (!recorded) {
        problems.push(`dataset version ${key} is in the store, but the audit trail never created it: the row was written behind the trail's back`);
        continue;
      }
      if (recorded.sha256 !== r.sha256) {
        problems.push(`dataset version ${key} has content ${r.sha256.slice(0, 12)}… in the store, but the audit trail created it with ${recorded.sha256.slice(0, 12)}…: the row was changed behind the trail's back`);
      }
      if (recorded.source !== r.source) {
        problems.push(`dataset version ${key} has source ${r.source} in the store, but the audit trail created it from ${recorded.source}: the row was changed behind the trail's back`);
      }
    }
    for (const key of this.datasetVersions.keys()) {
      if (!seenData.has(key)) problems.push(`dataset version ${key} is missing from the store, but the audit trail created it: the row was removed behind the trail's back`);
    }
    return problems;
  }
}

export interface StoredTrail {
  list: (q: { afterSeq: number; limit: number }) => Promise<AuditEvent[]>;
  checkpoints: AuditCheckpoint[];
  /** The key the checkpoints must verify with (never one read from the store); undefined when none is known. */
  key: TrustedKey | undefined;
  /** The registry's rows to compare with what the chain says (read with `registrySnapshot`). */
  registry?: RegistrySnapshot;
}

/**
 * Verifies the whole trail: the hash chain (page by page, so memory stays bounded), each
 * checkpoint's signature, that the chain reaches every checkpointed hash (an edited event whose
 * later hashes were recomputed does not), that the trail still holds the last checkpoint's event
 * (a cut-off tail does not), and that the registry's alias and model-version rows (stage, source)
 * and the dataset versions (content hash, source) are what the chain says.
 */
export async function verifyStoredTrail(t: StoredTrail, pageSize = 5000): Promise<AuditVerification> {
  const problems: string[] = [];
  let firstBad: AuditVerification['firstBad'];
  const fail = (seq: number, problem: 'altered' | 'removed' | 'reordered', detail: string) => {
    firstBad ??= { seq, problem, detail };
    problems.push(detail);
  };

  // Signatures first: a checkpoint that does not verify proves nothing about the chain.
  const signed: AuditCheckpoint[] = [];
  if (t.checkpoints.length && !t.key) {
    fail(t.checkpoints[0]!.seq, 'altered', `there are ${t.checkpoints.length} signed checkpoints but no key to verify them with: ` +
      'give --public-key <file>, or set TRELLIS_AUDIT_KEY_FILE to the signing key');
  }
  for (const c of t.key ? t.checkpoints : []) {
    if (t.key!.verify(checkpointPayload(c), c.signature)) signed.push(c);
    else fail(c.seq, 'altered', `checkpoint ${c.id}'s signature does not verify with the key in ${t.key!.from}` +
      (c.keyId !== t.key!.keyId ? ` (it names another key, ${c.keyId.slice(0, 16)}…)` : ''));
  }
  const bySeq = new Map<number, AuditCheckpoint[]>();
  for (const c of signed) bySeq.set(c.seq, [...(bySeq.get(c.seq) ?? []), c]);

  const replay = new RegistryReplay();
  let start = { seq: 0, hash: GENESIS_HASH };
  let checked = 0;
  let chainOk = true;
  let reachedFrom = 0;
  for (;;) {
    const events = await t.list({ afterSeq: start.seq, limit: pageSize });
    const result = verifyAuditChain(events, start);
    checked += result.checked;
    for (const e of events) {
      if (e.seq > result.last.seq) break;
      if (t.registry && e.seq <= t.registry.seq) replay.apply(e);
      for (const c of bySeq.get(e.seq) ?? []) {
        if (c.hash !== e.hash) {
          const range = reachedFrom + 1 === c.seq ? `event ${c.seq} was` : `an event among ${reachedFrom + 1}–${c.seq} was`;
          fail(c.seq, 'altered', `${range} altered: its chain no longer reaches checkpoint ${c.id} signed at ${iso(c.time)} ` +
            `(event ${c.seq}'s hash is ${e.hash.slice(0, 12)}…, the checkpoint signed ${c.hash.slice(0, 12)}…)`);
        } else {
          reachedFrom = c.seq;
        }
      }
    }
    if (!result.ok) {
      // The chain's own break is the first problem: it says which event.
      firstBad = result.firstBad;
      problems.unshift(result.firstBad!.detail);
      chainOk = false;
      break;
    }
    start = result.last;
    if (events.length < pageSize) break;
  }

  if (chainOk) {
    const last = signed.reduce<AuditCheckpoint | undefined>((a, c) => (!a || c.seq > a.seq ? c : a), undefined);
    if (last && (start.seq < last.seq || checked < last.count)) {
      fail(start.seq + 1, 'removed', `the trail ends at event ${start.seq} but checkpoint ${last.id} (signed ${iso(last.time)}) ` +
        `covers events up to ${last.seq}: events were removed`);
    }
    if (t.registry) {
      for (const p of replay.compare(t.registry)) fail(t.registry.seq, 'altered', p);
    }
  }
  return {
    ok: problems.length === 0, checked, checkpoints: signed.length,
    ...(firstBad ? { firstBad, problems } : {}),
  };
}
