/**
 * The audit chain: each event carries the hash of the one before it, so altering, removing or
 * reordering any stored event breaks every hash after it. The hash covers the event's content
 * and its position (seq); `verifyAuditChain` names the first event that does not fit.
 */
import { canonicalJson, sha256Hex } from '../core/hash.js';
import type { AuditEvent } from './ports/audit.js';

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
