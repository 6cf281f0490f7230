/**
 * Who held an alias or a stage, from when to when — answered from the audit chain, which records
 * every move with its actor. Renames are followed, so a model's history survives a new name.
 */
import type { AuditEvent, AuditLog } from '../store/ports/audit.js';

export interface HistoryInterval {
  /** `alias` for an alias such as champion, `stage` for a stage such as Production. */
  kind: 'alias' | 'stage';
  /** The alias or stage name. */
  label: string;
  version: string;
  from: number;
  /** Absent while the interval is still open. */
  to?: number;
  setBy: string;
  endedBy?: string;
}

export async function modelHistory(audit: AuditLog, name: string, filter: { alias?: string; stage?: string } = {}): Promise<HistoryInterval[]> {
  const names = await formerNames(audit, name);
  const events: AuditEvent[] = [];
  for (const n of names) {
    events.push(...(await audit.listAuditEvents({ entityType: 'registered_model', entityId: n, limit: 1_000_000 })));
  }
  for (const n of names) {
    events.push(...(await audit.listAuditEvents({ entityType: 'model_version', entityIdPrefix: `${n}/`, limit: 1_000_000 })));
  }
  events.sort((a, b) => a.seq - b.seq);

  const open = new Map<string, HistoryInterval>();
  const out: HistoryInterval[] = [];
  const close = (key: string, time: number, actor: string) => {
    const cur = open.get(key);
    if (cur) {
      cur.to = time;
      cur.endedBy = actor;
      open.delete(key);
    }
  };
  for (const e of events) {
    const before = (e.before ?? {}) as Record<string, unknown>;
    const after = (e.after ?? {}) as Record<string, unknown>;
    if (e.action === 'set_alias' || e.action === 'delete_alias') {
      const alias = String(after.alias ?? before.alias);
      close(`alias:${alias}`, e.time, e.actor);
      // The version the alias now points at; null when the alias was deleted.
      const version = typeof after.version === 'number' ? String(after.version) : after.version;
      if (typeof version === 'string' && version) {
        const iv: HistoryInterval = { kind: 'alias', label: alias, version, from: e.time, setBy: e.actor };
        open.set(`alias:${alias}`, iv);
        out.push(iv);
      }
    } else if (e.action === 'transition_stage') {
      const version = e.entityId.slice(e.entityId.lastIndexOf('/') + 1);
      close(`stage:${version}`, e.time, e.actor);
      const stage = String(after.stage);
      if (stage !== 'None') {
        const iv: HistoryInterval = { kind: 'stage', label: stage, version, from: e.time, setBy: e.actor };
        open.set(`stage:${version}`, iv);
        out.push(iv);
      }
    } else if (e.action === 'delete_model_version') {
      const version = e.entityId.slice(e.entityId.lastIndexOf('/') + 1);
      close(`stage:${version}`, e.time, e.actor);
    }
  }
  return out.filter((iv) =>
    (filter.alias === undefined || (iv.kind === 'alias' && iv.label === filter.alias)) &&
    (filter.stage === undefined || (iv.kind === 'stage' && iv.label.toLowerCase() === filter.stage.toLowerCase())));
}

/** The name itself and every name it was renamed from, oldest last. */
async function formerNames(audit: AuditLog, name: string): Promise<string[]> {
  const renames = await audit.listAuditEvents({ action: 'rename_registered_model', limit: 1_000_000 });
  const names = [name];
  let current = name;
  for (let i = renames.length - 1; i >= 0; i--) {
    const e = renames[i]!;
    if ((e.after as { name?: string }).name === current) {
      current = (e.before as { name: string }).name;
      names.push(current);
    }
  }
  return names;
}
