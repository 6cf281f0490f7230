import { Command } from 'commander';
import { invalid } from '../../core/errors.js';
import type { Run } from '../../store/ports/tracking.js';
import { parseRunFilter, parseRunOrderBy } from '../../tracking/search/search-filter.js';
import type { Backend } from '../../sdk/backend.js';
import { globals, withBackend } from '../context.js';
import { output, printTable, time } from '../output.js';
import { findExperiment } from './experiments.js';

/** A table column: its header and how a run fills it. */
interface Column { header: string; cell: (r: Run) => unknown }

const ATTRIBUTES: Record<string, (r: Run) => unknown> = {
  run_id: (r) => r.info.runId,
  name: (r) => r.info.runName,
  status: (r) => r.info.status,
  start_time: (r) => time(r.info.startTime),
  end_time: (r) => time(r.info.endTime),
  experiment_id: (r) => r.info.experimentId,
  user: (r) => r.info.userId,
  lifecycle_stage: (r) => r.info.lifecycleStage,
};
const ATTRIBUTE_ALIASES: Record<string, string> = { run_name: 'name', user_id: 'user', started: 'start_time', ended: 'end_time' };
const PREFIXES: Record<string, 'metric' | 'param' | 'tag'> = {
  metrics: 'metric', metric: 'metric', params: 'param', param: 'param', tags: 'tag', tag: 'tag',
};

function metricCell(r: Run, key: string): unknown {
  const m = r.data.metrics.find((x) => x.key === key);
  return m === undefined ? '' : Number.isInteger(m.value) ? m.value : m.value.toPrecision(5);
}

function keyColumn(kind: 'metric' | 'param' | 'tag', key: string): Column {
  if (kind === 'metric') return { header: key, cell: (r) => metricCell(r, key) };
  if (kind === 'param') return { header: `params.${key}`, cell: (r) => r.data.params[key] ?? '' };
  return { header: `tags.${key}`, cell: (r) => r.data.tags[key] ?? '' };
}

function attributeColumn(name: string, header = name): Column | undefined {
  const canonical = ATTRIBUTE_ALIASES[name] ?? name;
  const cell = ATTRIBUTES[canonical];
  return cell ? { header, cell } : undefined;
}

/** `--columns run_id,name,metrics.rmse,params.l2,tags.x`: exactly these columns, in this order. */
function parseColumns(spec: string): Column[] {
  const names = spec.split(',').map((x) => x.trim());
  const accepted = `${Object.keys(ATTRIBUTES).join(', ')}, or metrics.<key>, params.<key>, tags.<key>`;
  if (names.every((x) => x === '')) throw invalid(`--columns needs at least one column: ${accepted}`);
  return names.map((name) => {
    const dot = name.indexOf('.');
    const kind = dot > 0 ? PREFIXES[name.slice(0, dot).toLowerCase()] : undefined;
    const column = kind && dot < name.length - 1 ? keyColumn(kind, name.slice(dot + 1)) : attributeColumn(name.toLowerCase(), name);
    if (!column) throw invalid(`unknown column '${name}' in --columns; columns are ${accepted}`);
    return column;
  });
}

/** The metrics, params, tags and attributes a filter or an ordering names, in the order they are named. */
function askedColumns(filter: string | undefined, orderBy: string[] | undefined): Column[] {
  const keys = [...parseRunFilter(filter), ...parseRunOrderBy(orderBy)];
  return keys.flatMap((k): Column[] => {
    if (k.kind === 'metric' || k.kind === 'param' || k.kind === 'tag') return [keyColumn(k.kind, k.key)];
    if (k.kind === 'attribute') return [attributeColumn(k.key === 'run_name' ? 'name' : k.key)].filter((c): c is Column => c !== undefined);
    return [];
  });
}

/**
 * The columns of a hyper-parameter search's trials among `runs`: the trial number and the params
 * whose values differ between the trials of one search (the searched ones), over all its trials.
 */
async function trialColumns(b: Backend, runs: Run[]): Promise<Column[]> {
  const parents = [...new Set(runs.filter((r) => r.data.tags[TRIAL_TAG] !== undefined).map((r) => r.data.tags[PARENT_TAG] ?? ''))];
  if (!parents.length) return [];
  const searched = new Set<string>();
  for (const parent of parents) {
    const siblings = parent === '' ? runs.filter((r) => r.data.tags[TRIAL_TAG] !== undefined) : (await b.searchRuns({
      experimentIds: [...new Set(runs.map((r) => r.info.experimentId))],
      filter: `tags.${PARENT_TAG} = '${parent}'`, maxResults: 1000, viewType: 'ALL',
    })).items.filter((r) => r.data.tags[TRIAL_TAG] !== undefined);
    const keys = new Set(siblings.flatMap((r) => Object.keys(r.data.params)));
    for (const k of keys) if (new Set(siblings.map((r) => r.data.params[k])).size > 1) searched.add(k);
  }
  return [{ header: 'trial', cell: (r) => r.data.tags[TRIAL_TAG] ?? '' }, ...[...searched].sort().map((k) => keyColumn('param', k))];
}

const TRIAL_TAG = 'trellis.trial';
const PARENT_TAG = 'mlflow.parentRunId';

/** Columns keep their first place; a later column with the same header is dropped. */
function unique(columns: Column[]): Column[] {
  const seen = new Set<string>();
  return columns.filter((c) => !seen.has(c.header) && seen.add(c.header));
}

interface ListOptions { experiment?: string; filter?: string; orderBy?: string[]; limit?: string; all?: boolean; columns?: string }

async function listOrSearch(c: Command, o: ListOptions) {
  const chosen = o.columns === undefined ? undefined : parseColumns(o.columns);
  await withBackend(c, async (b) => {
    const experiments = o.experiment ? [await findExperiment(b, o.experiment)] : (await b.searchExperiments({})).items;
    const page = await b.searchRuns({
      experimentIds: experiments.map((e) => e.experimentId), filter: o.filter, orderBy: o.orderBy,
      maxResults: o.limit ? Number(o.limit) : 50, viewType: o.all ? 'ALL' : 'ACTIVE_ONLY',
    });
    const human = async (): Promise<Column[]> => {
      if (chosen) return chosen;
      const base: Column[] = ['run_id', 'name', 'status'].map((n) => attributeColumn(n)!);
      base.push({ header: 'started', cell: ATTRIBUTES.start_time! });
      const asked = askedColumns(o.filter, o.orderBy).filter((col) => col.header !== 'start_time');
      const trials = await trialColumns(b, page.items);
      const askedMetrics = new Set(asked.map((col) => col.header));
      const others = [...new Set(page.items.flatMap((r) => r.data.metrics.map((m) => m.key)))].sort().filter((k) => !askedMetrics.has(k))
        .slice(0, Math.max(0, 4 - asked.length)).map((k) => keyColumn('metric', k));
      return unique([...base, ...asked, ...trials, ...others]);
    };
    const columns = globals(c).json ? [] : await human();
    output(!!globals(c).json, () => page.items, () => printTable(
      page.items.map((r) => Object.fromEntries(columns.map((col) => [col.header, col.cell(r)]))), columns.map((col) => col.header)));
  });
}

export function runsCommand(): Command {
  const cmd = new Command('runs').description('list, search and show runs');
  const common = (sub: Command) => sub
    .option('-e, --experiment <id-or-name>', 'only this experiment (default: all active experiments)')
    .option('--order-by <clause...>', "e.g. 'metrics.rmse ASC'")
    .option('--limit <n>', 'at most this many runs', '50')
    .option('--all', 'include deleted runs')
    .option('--columns <list>', 'table columns, comma-separated: run_id, name, status, start_time, end_time, experiment_id, user, lifecycle_stage, metrics.<key>, params.<key>, tags.<key> (default: the run, the metrics, params and tags named by --filter and --order-by, a search\'s trial values, then other metrics)');

  common(cmd.command('list').description('list recent runs'))
    .action(async (o: ListOptions, c: Command) => listOrSearch(c, o));

  common(cmd.command('search').description("search runs with MLflow's filter grammar"))
    .requiredOption('-f, --filter <expr>', "e.g. \"metrics.rmse < 100 and params.model = 'ols'\"")
    .action(async (o: ListOptions, c: Command) => listOrSearch(c, o));

  cmd.command('show <run-id>')
    .description('show a run: params, latest metrics, tags, artifacts')
    .action(async (runId: string, _o: unknown, c: Command) => {
      await withBackend(c, async (b) => {
        const run = await b.getRun(runId);
        const files = await b.listArtifacts(runId);
        output(!!globals(c).json, () => ({ ...run, artifacts: files }), () => {
          const i = run.info;
          console.log(`run ${i.runId}  ${i.runName}  [${i.status}${i.lifecycleStage === 'deleted' ? ', deleted' : ''}]`);
          console.log(`  experiment ${i.experimentId}, user ${i.userId}, started ${time(i.startTime)}${i.endTime ? `, ended ${time(i.endTime)}` : ''}`);
          console.log(`  artifacts  ${i.artifactUri}`);
          console.log('\nparams');
          printTable(Object.entries(run.data.params).map(([key, value]) => ({ key, value })), ['key', 'value']);
          console.log('\nmetrics (latest)');
          printTable(run.data.metrics.map((m) => ({ key: m.key, value: m.value, step: m.step, time: time(m.timestamp) })), ['key', 'value', 'step', 'time']);
          console.log('\ntags');
          printTable(Object.entries(run.data.tags).map(([key, value]) => ({ key, value })), ['key', 'value']);
          console.log('\nartifacts');
          printTable(files.map((f) => ({ path: f.path + (f.isDir ? '/' : ''), size: f.size })), ['path', 'size']);
        });
      });
    });
  return cmd;
}
