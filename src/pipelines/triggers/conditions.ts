/**
 * When a deployed pipeline's triggers fire, decided from what the stores hold and the time, with no
 * state of the scheduler's own: each event becomes a trigger record whose dedupe key names the
 * event (`cron:<pipeline>:<due time>`, `dataset:<pipeline>:<dataset>:<version>`,
 * `pipeline:<pipeline>:<upstream run>`), so evaluating the same condition again — on the next
 * tick, after a restart, or on another scheduler sharing the store — finds the record already there.
 *
 * A version's triggers take over from the moment it was deployed: only events after the version's
 * creation fire, and of the events since then only the latest one, so a cron schedule missed while
 * no scheduler ran fires once, not once per missed time (the same for several new dataset versions).
 */
import { Cron } from 'croner';
import { isTrellisError, type ErrorCode } from '../../core/errors.js';
import type { DatasetService } from '../../data/datasets.js';
import type { PipelineStore, PipelineVersion } from '../../store/ports/pipelines.js';
import type { CreateTriggerInput } from '../../store/ports/triggers.js';
import type { TrackingService } from '../../tracking/tracking-service.js';
import type { TriggerSpec } from '../ir.js';

/** The latest time in (`after`, `now`] at which `expr` is due, in ms; undefined when none is. */
export function latestDue(expr: string, timezone: string | undefined, after: number, now: number): number | undefined {
  if (now <= after) return undefined;
  const job = new Cron(expr, { timezone: timezone ?? 'UTC', paused: true });
  // Look back over growing windows, so the walk covers only the last window's due times, however
  // long ago the version was deployed.
  for (let window = 60_000; ; window *= 16) {
    const from = Math.max(after, now - window);
    const first = job.nextRun(new Date(from));
    if (first && first.getTime() <= now) {
      let last = first;
      for (;;) {
        const next = job.nextRun(last);
        if (!next || next.getTime() > now) return last.getTime();
        last = next;
      }
    }
    if (from === after) return undefined;
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

/** What the conditions read: dataset versions, the pipeline run records, and the experiment a pipeline's runs are kept in. */
export interface ConditionSources {
  data: Pick<DatasetService, 'get'>;
  pipelines: Pick<PipelineStore, 'listPipelineRuns'>;
  tracking: Pick<TrackingService, 'findExperiment'>;
}

/**
 * The trigger records the conditions of `v`'s triggers call for at `now` (already recorded ones
 * included: their dedupe keys match), counting events after `since` — when the version went live.
 */
export async function dueTriggers(s: ConditionSources, v: PipelineVersion, now: number, since = v.createdAt): Promise<CreateTriggerInput[]> {
  const out: CreateTriggerInput[] = [];
  for (const t of v.triggers as TriggerSpec[]) {
    const params = t.params;
    if ('cron' in t) {
      const due = latestDue(t.cron, t.timezone, since, now);
      if (due === undefined) continue;
      out.push({
        pipeline: v.name, kind: 'cron', dedupeKey: `cron:${v.name}:${iso(due)}`, params,
        reason: `cron '${t.cron}' (${t.timezone ?? 'UTC'}) was due at ${iso(due)}`,
      });
    } else if ('dataset' in t) {
      const latest = await s.data.get(t.dataset).catch(absent('TRELLIS_DATASET_NOT_FOUND', 'TRELLIS_DATASET_VERSION_NOT_FOUND'));
      if (!latest || latest.creationTime <= since) continue;
      out.push({
        pipeline: v.name, kind: 'dataset', dedupeKey: `dataset:${v.name}:${t.dataset}:${latest.version}`, params,
        reason: `dataset '${t.dataset}' version ${latest.version} was added at ${iso(latest.creationTime)}`,
      });
    } else if ('pipeline' in t) {
      const run = await lastFinishedRun(s, t.pipeline, since);
      if (!run) continue;
      out.push({
        pipeline: v.name, kind: 'pipeline', dedupeKey: `pipeline:${v.name}:${run.runId}`, params,
        reason: `pipeline '${t.pipeline}' run ${run.runId} finished at ${iso(run.endTime)}`,
      });
    }
  }
  return out;
}

/**
 * The pipeline run of `pipeline` that finished last, after `after`, read from the pipeline run
 * records: of the runs kept in the experiment of the pipeline's name (a run started into another
 * experiment, a rerun's for one, does not count).
 */
async function lastFinishedRun(s: ConditionSources, pipeline: string, after: number): Promise<{ runId: string; endTime: number } | undefined> {
  const exp = await s.tracking.findExperiment(pipeline);
  if (!exp) return undefined;
  const [run] = await s.pipelines.listPipelineRuns({ pipeline, status: 'FINISHED', experimentId: exp.experimentId, endedAfter: after, order: 'ended', limit: 1 });
  return run?.endTime === undefined ? undefined : { runId: run.id, endTime: run.endTime };
}

/** A catch handler that turns the named not-found errors into `undefined` and lets others through. */
function absent(...codes: ErrorCode[]): (e: unknown) => undefined {
  return (e) => {
    if (isTrellisError(e, ...codes)) return undefined;
    throw e;
  };
}
