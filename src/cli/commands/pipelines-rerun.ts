/**
 * `trellis pipelines rerun <run>`: executes a recorded pipeline run again without the cache and
 * reports, output by output, whether the bytes are identical (see src/pipelines/engine/rerun.ts).
 */
import { Command } from 'commander';
import type { RerunReport } from '../../pipelines/engine/rerun.js';
import { actor, globals, withWorkspace } from '../context.js';
import { formatTable, printJson } from '../output.js';
import { RunProgress, runSummary } from '../progress.js';

const short = (sha: string | null) => (sha ? sha.slice(0, 12) : '');
const show = (v: unknown) => (v === null || v === undefined ? 'none' : JSON.stringify(v));

export function rerunText(r: RerunReport): string {
  const out = [formatTable(r.outputs.map((x) => ({
    output: `${x.step}.${x.output}`, type: x.type, verdict: x.verdict, original: short(x.original), rerun: short(x.rerun),
  })), ['output', 'type', 'verdict', 'original', 'rerun'])];
  for (const x of r.outputs.filter((o) => o.verdict === 'differs')) {
    out.push('', `${x.step}.${x.output} differs:`, `  original sha256 ${x.original}`, `  rerun    sha256 ${x.rerun}`);
    out.push(x.changes?.length
      ? `  its step's inputs differ: ${x.changes.map((c) => `${c.part}${c.key ? ` '${c.key}'` : ''} ${show(c.before)} → ${show(c.after)}`).join('; ')}`
      : `  its step's inputs are the same: step '${x.step}' does not write the same bytes from the same inputs`);
  }
  for (const x of r.outputs.filter((o) => o.verdict === 'missing')) out.push(`${x.step}.${x.output} is missing: ${x.note}`);
  const c = r.counts;
  out.push('', `rerun ${r.rerun} of ${r.original} (${r.pipeline}, experiment '${r.experiment}'): ${r.identical ? 'every output is byte-identical' : 'NOT identical'} — ${c.identical} identical, ${c.differs} differ, ${c.missing} missing`
    + (r.notRerun.length ? `; not re-run: ${r.notRerun.join(', ')} (a rerun registers no model version)` : ''));
  return `${out.join('\n')}\n`;
}

export function pipelinesRerunCommand(): Command {
  return new Command('rerun')
    .description('execute a pipeline run again without the cache and report, output by output, whether the bytes are identical (exit 1 when any differs or is missing); register steps are not re-run')
    .argument('<run-id>', 'the pipeline run to reproduce')
    .option('--experiment <name>', "experiment to record the new run in (default: '<experiment>-reruns', so that its steps never serve as the cache of ordinary runs)")
    .action(async (runId: string, o: { experiment?: string }, c: Command) => {
      const json = !!globals(c).json;
      await withWorkspace(c, async (ws) => {
        const { planRerun, rerunPipeline } = await import('../../pipelines/engine/rerun.js');
        const { topologicalOrder } = await import('../../pipelines/ir.js');
        const opened = await ws.pipelines.openEngine(actor(c), { queue: 'inline' });
        const { engine } = opened;
        const abort = new AbortController();
        const onInt = () => abort.abort();
        let progress: RunProgress | undefined;
        try {
          const plan = await planRerun(engine.s, runId, { experiment: o.experiment });
          process.once('SIGINT', onInt);
          progress = new RunProgress(process.stderr, { steps: topologicalOrder(plan.executed) });
          const { result, report } = await rerunPipeline(engine, plan, { onEvent: progress.onEvent, signal: abort.signal });
          progress.stop();
          if (json) printJson({ ...report, result });
          else process.stdout.write(`${runSummary(result)}\n${rerunText(report)}`);
          if (result.failed) console.error(`error: the rerun ${result.runId} failed at step '${result.failed.step}': ${result.failed.error}`);
          if (!report.identical) process.exitCode = 1;
        } finally {
          progress?.stop();
          process.off('SIGINT', onInt);
          await opened.close();
        }
      });
    });
}
