/**
 * `trellis pipelines trigger <name>` asks for a run of a deployed pipeline (an `api` trigger record
 * that a scheduler picks up); `trellis pipelines triggers [<name>]` lists trigger records. Both work
 * on the local workspace, or on a server with `--server <url>` over REST.
 */
import { Command } from 'commander';
import { invalid } from '../../core/errors.js';
import type { TriggerRecord, TriggerStatus } from '../../store/ports/triggers.js';
import { actor, globals, serverChoice, withWorkspace } from '../context.js';
import { output, printJson, printTable, time } from '../output.js';
import { rest } from '../server-rest.js';

export { rest } from '../server-rest.js';

const STATUSES: readonly TriggerStatus[] = ['pending', 'running', 'finished', 'failed', 'skipped', 'cancelled'];

/** `--param k=v` pairs as text; the pipeline's declared types are applied where the record is written. */
function rawParams(raw: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of raw ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw invalid(`--param takes name=value, got '${kv}'`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** A record from the REST shape (snake_case) back to the store's. */
function fromJson(t: Record<string, unknown>): TriggerRecord {
  return {
    id: Number(t.id), pipeline: String(t.pipeline), kind: t.kind as TriggerRecord['kind'], reason: typeof t.reason === 'string' ? t.reason : '',
    params: (t.params ?? {}) as TriggerRecord['params'], dedupeKey: t.dedupe_key as string | undefined, status: t.status as TriggerStatus,
    createdAt: Number(t.created_at), updatedAt: Number(t.updated_at), requestedBy: String(t.requested_by),
    claimedBy: t.claimed_by as string | undefined, claimedAt: t.claimed_at as number | undefined, heartbeatAt: t.heartbeat_at as number | undefined,
    version: t.version as number | undefined, runId: t.run_id as string | undefined, detail: t.detail as string | undefined,
  };
}

export function printTriggers(list: TriggerRecord[]): void {
  printTable(list.map((t) => ({
    id: t.id, pipeline: t.pipeline, kind: t.kind, status: t.status, created: time(t.createdAt), version: t.version ?? '', run: t.runId ?? '',
    detail: t.detail ?? t.reason,
  })), ['id', 'pipeline', 'kind', 'status', 'created', 'version', 'run', 'detail'], '(no trigger records)');
}

export function pipelinesTriggerCommand(): Command {
  return new Command('trigger')
    .description('ask for a run of a deployed pipeline: writes an api trigger record, which a scheduler (`trellis scheduler`, `trellis server --scheduler`) runs')
    .argument('<name>', 'the deployed pipeline; its latest version must declare { api: true } among its triggers')
    .option('--param <name=value...>', 'values for the pipeline parameters, over the api trigger\'s own')
    .option('--reason <text>', 'why the run is wanted (kept on the record)')
    .option('--server <url>', 'write the record on this Trellis server instead of the local workspace')
    .action(async (name: string, o: { param?: string[]; reason?: string; server?: string }, c: Command) => {
      const params = rawParams(o.param);
      const json = !!globals(c).json;
      let r: { trigger: TriggerRecord; created: boolean };
      // --server is also the CLI's global option (and $TRELLIS_TRACKING_URI / $MLFLOW_TRACKING_URI choose a server too).
      const server = o.server ?? serverChoice(c)?.url;
      if (server) {
        const body = await rest(server, 'POST', '/pipelines/trigger', { pipeline: name, params, ...(o.reason ? { reason: o.reason } : {}) });
        r = { trigger: fromJson(body.trigger as Record<string, unknown>), created: body.created === true };
      } else {
        r = await withWorkspace(c, (ws) => ws.pipelines.requestTrigger({ pipeline: name, params, reason: o.reason }, actor(c)));
      }
      output(json, () => r.trigger, () => console.log(`trigger #${r.trigger.id}: ${r.trigger.pipeline} ${r.trigger.status}${Object.keys(r.trigger.params).length ? ` with ${JSON.stringify(r.trigger.params)}` : ''}`));
    });
}

export function pipelinesTriggersCommand(): Command {
  return new Command('triggers')
    .description('list trigger records, newest first: what asked for each run (cron, dataset, pipeline, api, record) and what became of it')
    .argument('[name]', 'only this pipeline')
    .option('--status <status>', `only records in this status: ${STATUSES.join(', ')}`)
    .option('--limit <n>', 'at most this many', '50')
    .option('--server <url>', 'list the records of this Trellis server instead of the local workspace')
    .action(async (name: string | undefined, o: { status?: string; limit: string; server?: string }, c: Command) => {
      if (o.status !== undefined && !STATUSES.includes(o.status as TriggerStatus)) throw invalid(`--status must be one of ${STATUSES.join(', ')}, got '${o.status}'`);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10000) throw invalid(`--limit must be a whole number from 1 to 10000, got '${o.limit}'`);
      let list: TriggerRecord[];
      const server = o.server ?? serverChoice(c)?.url;
      if (server) {
        const q = new URLSearchParams({ limit: String(limit), ...(name ? { pipeline: name } : {}), ...(o.status ? { status: o.status } : {}) });
        list = ((await rest(server, 'GET', `/pipelines/triggers?${q}`)).triggers as Record<string, unknown>[]).map(fromJson);
      } else {
        list = await withWorkspace(c, (ws) => ws.pipelines.triggers({ pipeline: name, status: o.status as TriggerStatus | undefined, limit }));
      }
      if (globals(c).json) printJson(list);
      else printTriggers(list);
    });
}
