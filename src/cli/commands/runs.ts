import { Command } from 'commander';
import type { Run } from '../../store/ports/tracking.js';
import { globals, withWorkspace } from '../context.js';
import { output, printTable, time } from '../output.js';
import { findExperiment } from './experiments.js';

function runRow(r: Run, metricKeys: string[]): Record<string, unknown> {
  const row: Record<string, unknown> = { run_id: r.info.runId, name: r.info.runName, status: r.info.status, started: time(r.info.startTime) };
  for (const k of metricKeys) {
    const m = r.data.metrics.find((x) => x.key === k);
    row[k] = m === undefined ? '' : Number.isInteger(m.value) ? m.value : m.value.toPrecision(5);
  }
  return row;
}

interface ListOptions { experiment?: string; filter?: string; orderBy?: string[]; limit?: string; all?: boolean }

async function listOrSearch(c: Command, o: ListOptions) {
  await withWorkspace(c, async (ws) => {
    const experiments = o.experiment ? [await findExperiment(ws, o.experiment)] : (await ws.tracking.searchExperiments({})).items;
    const page = await ws.tracking.searchRuns({
      experimentIds: experiments.map((e) => e.experimentId), filter: o.filter, orderBy: o.orderBy,
      maxResults: o.limit ? Number(o.limit) : 50, viewType: o.all ? 'ALL' : 'ACTIVE_ONLY',
    });
    const keys = [...new Set(page.items.flatMap((r) => r.data.metrics.map((m) => m.key)))].sort().slice(0, 4);
    output(!!globals(c).json, () => page.items, () => printTable(page.items.map((r) => runRow(r, keys)), ['run_id', 'name', 'status', 'started', ...keys]));
  });
}

export function runsCommand(): Command {
  const cmd = new Command('runs').description('list, search and show runs');
  const common = (sub: Command) => sub
    .option('-e, --experiment <id-or-name>', 'only this experiment (default: all active experiments)')
    .option('--order-by <clause...>', "e.g. 'metrics.rmse ASC'")
    .option('--limit <n>', 'at most this many runs', '50')
    .option('--all', 'include deleted runs');

  common(cmd.command('list').description('list recent runs'))
    .action(async (o: ListOptions, c: Command) => listOrSearch(c, o));

  common(cmd.command('search').description("search runs with MLflow's filter grammar"))
    .requiredOption('-f, --filter <expr>', "e.g. \"metrics.rmse < 100 and params.model = 'ols'\"")
    .action(async (o: ListOptions, c: Command) => listOrSearch(c, o));

  cmd.command('show <run-id>')
    .description('show a run: params, latest metrics, tags, artifacts')
    .action(async (runId: string, _o: unknown, c: Command) => {
      await withWorkspace(c, async (ws) => {
        const run = await ws.tracking.getRun(runId);
        const { files } = await ws.tracking.listArtifacts(runId);
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
