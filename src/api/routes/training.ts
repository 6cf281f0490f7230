/**
 * Training over HTTP: `POST /api/2.0/trellis/train` runs the workflow of `trellis train` on a
 * dataset version of the workspace and answers what `trellis train --json` prints. The data is a
 * dataset version only: a client never names a file on the server's disk.
 */
import { invalid } from '../../core/errors.js';
import { excerpt } from '../../store/limits.js';
import type { Algo } from '../../ml/train.js';
import type { TrainingOutcome, TrainingSearch } from '../../ml/training-workflow.js';
import type { Workspace } from '../../workspace/workspace.js';
import type { Params } from '../params.js';
import type { MlflowRouter } from '../router.js';
import { byDataset, byExperimentNameIfAny, modelObj } from '../route-objects.js';

const ALGOS: readonly Algo[] = ['linear', 'gbdt', 'forest'];

function searchOf(p: Params, parseSpace: (spec: string) => TrainingSearch['space'][number]): TrainingSearch | undefined {
  if (!p.has('search')) return undefined;
  const s = p.requireObject('search');
  const strategy = s.requireString('strategy');
  if (strategy !== 'grid' && strategy !== 'random') throw invalid(`Invalid value '${excerpt(strategy)}' for parameter 'search.strategy': it must be grid or random`);
  const space = s.optionalStringArray('space') ?? [];
  if (!space.length) throw invalid("Parameter 'search.space' needs at least one searched parameter, e.g. 'l2=0.1,1,10'");
  return { strategy, space: space.map(parseSpace), trials: s.optionalInt('trials'), objective: s.optionalString('objective') };
}

const wireNum = (v: number): number | string => (Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v);
const wireNums = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, wireNum(v)]));

/** What `trellis train` prints beyond the summary — the rows, the folds, the trials — for a client that prints it too. */
function reportJson(o: TrainingOutcome): object {
  const cv = o.cv;
  const found = o.search;
  return {
    task: o.task, positive_class: o.positiveClass, train_rows: o.trainRows, test_rows: o.testRows, metrics: wireNums(o.metrics), warnings: o.warnings,
    cv: cv && { folds: cv.folds.length, time: cv.scheme.kind === 'time', mean: wireNums(cv.mean), std: wireNums(cv.std) },
    search: found && {
      metric: found.objective.metric, direction: found.objective.direction, names: Object.keys(found.best.params),
      trials: found.trials.map((t) => ({ index: t.index, params: t.params, objective: wireNum(t.objective) })),
    },
  };
}

export function trainingRoutes(r: MlflowRouter, ws: Workspace): void {
  // Writes a run into the experiment; also reads the dataset and, with `register`, writes the model.
  r.post('/train', { action: 'write', object: byExperimentNameIfAny(ws, 'experiment') }, async ({ p, who, req, auth }) => {
    auth.require('read', byDataset('data')(req, p));
    const register = p.optionalString('register') || undefined;
    if (register !== undefined) auth.require('write', modelObj(register));
    // The trainers load with the first training request, not with the server.
    const [{ parseSpace }, { parseCvSpec }] = await Promise.all([import('../../ml/search.js'), import('../../ml/training-workflow.js')]);
    const algo = p.optionalString('algo') || 'linear';
    if (!(ALGOS as readonly string[]).includes(algo)) throw invalid(`Invalid value '${excerpt(algo)}' for parameter 'algo': it must be one of ${ALGOS.join(', ')}`);
    const cv = p.optionalString('cv');
    const report = p.optionalBool('report') ?? false;
    const result = await ws.training.train({
      data: p.requireString('data'), target: p.requireString('target'), algo: algo as Algo,
      params: Object.fromEntries((p.optionalKeyValues('params') ?? []).map((kv) => [kv.key, kv.value])), exclude: p.optionalStringArray('exclude'),
      cv: cv ? parseCvSpec(cv) : undefined, search: searchOf(p, parseSpace),
      experiment: p.optionalString('experiment') || undefined, register,
    }, who, { onProgress: (line) => req.log.debug({ line }, 'train'), files: false });
    return report ? { ...result.summary, report: reportJson(result.outcome) } : result.summary;
  });
}
