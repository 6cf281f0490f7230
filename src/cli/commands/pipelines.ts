import { pipelinesStepCommand } from './pipelines-step.js';
import { pipelinesRerunCommand } from './pipelines-rerun.js';
import { pipelinesTriggerCommand, pipelinesTriggersCommand, rest } from './pipelines-triggers.js';
import { pipelinesDeploymentCommands } from './pipelines-deployments.js';
import { pipelinesDeployCommand } from './pipelines-deploy.js';
import { pipelinesExportCommand } from './pipelines-export.js';
import { Command } from 'commander';
import { invalid } from '../../core/errors.js';
import type { InputValue, PipelineIR, Scalar } from '../../pipelines/ir.js';
import type { LoadedPipeline } from '../../pipelines/load.js';
import type { Finding } from '../../pipelines/lint.js';
import type { PipelineRunResult } from '../../pipelines/engine/index.js';
import type { CacheExplanation } from '../../pipelines/engine/why.js';
import type { Workspace } from '../../workspace/workspace.js';
import { actor, globals, serverChoice, withWorkspace } from '../context.js';
import { output, printJson, printTable } from '../output.js';
import { RunProgress, runSummary } from '../progress.js';

/**
 * Reads a pipeline file: JSON or YAML text, or a module whose default export is a pipeline (made
 * with the SDK's `pipeline()`); `.ts` modules load through tsx. `locate` is there for text only.
 */
export async function loadPipelineFile(file: string): Promise<LoadedPipeline> {
  const { loadPipelineFile: load } = await import('../../pipelines/load.js');
  return load(file);
}

/** `--param trees=300 dataset=bike@3` → values typed as the pipeline declares them. */
export function paramValues(ir: PipelineIR, raw: string[] | undefined): Record<string, Scalar> | undefined {
  if (!raw) return undefined;
  const out: Record<string, Scalar> = {};
  for (const kv of raw) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw invalid(`--param takes name=value, got '${kv}'`);
    const name = kv.slice(0, eq);
    const text = kv.slice(eq + 1);
    const type = ir.params.find((p) => p.name === name)?.type;
    const n = text.trim() === '' ? Number.NaN : Number(text);
    out[name] = (type === 'number' || type === 'integer') && Number.isFinite(n) ? n
      : type === 'boolean' && (text === 'true' || text === 'false') ? text === 'true' : text;
  }
  return out;
}


const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

function showInput(v: InputValue): string {
  if (typeof v === 'object') return 'param' in v ? `params.${v.param}` : `${v.step}.${v.output}`;
  return JSON.stringify(v);
}

// ---- running pipelines (`trellis run`, `trellis pipelines resume`) ----

/** Live progress of a run on stderr: redrawn in place on a terminal, a line per event elsewhere. */
export function progressOnStderr(steps?: readonly string[]): RunProgress {
  return new RunProgress(process.stderr, { steps });
}

/** The steps of a recorded pipeline run in the order they run, when its IR can be read (else the progress learns them from events). */
export async function recordedSteps(ws: Workspace, runId: string): Promise<string[] | undefined> {
  try {
    const { topologicalOrder, validatePipeline } = await import('../../pipelines/ir.js');
    return topologicalOrder(validatePipeline(JSON.parse((await ws.tracking.readArtifact(runId, 'pipeline.json')).toString('utf8')), `run ${runId}`));
  } catch {
    return undefined;
  }
}

/** An explanation from the REST shape (snake_case) back to the engine's, so both print the same. */
function explanationFromJson(x: Record<string, unknown>): CacheExplanation {
  return {
    pipelineRun: String(x.pipeline_run), step: String(x.step), stepRun: String(x.step_run), verdict: x.verdict === 'hit' ? 'hit' : 'miss',
    reason: String(x.reason), ...(typeof x.compared_with === 'string' ? { comparedWith: x.compared_with } : {}),
    changes: Array.isArray(x.changes) ? (x.changes as CacheExplanation['changes']) : [],
  };
}

/** A runner whose steps run in this process, whatever queue the workspace names. */
export async function pipelineEngine(ws: Workspace, who: { actor: string }) {
  return (await ws.pipelines.openEngine(who, { queue: 'inline' })).engine;
}

/** The summary of a pipeline run: JSON, or the step table with outputs, registered versions and the total time. */
export function reportRun(json: boolean, r: PipelineRunResult): void {
  output(json, () => r, () => process.stdout.write(runSummary(r)));
  if (r.failed) {
    console.error(r.status === 'KILLED'
      ? `error: pipeline run ${r.runId} was cancelled during step '${r.failed.step}'`
      : `error: pipeline run ${r.runId} failed at step '${r.failed.step}': ${r.failed.error}`);
    process.exitCode = r.status === 'KILLED' ? 130 : 1;
  }
}

export function pipelinesCommand(): Command {
  const cmd = new Command('pipelines').description('pipelines: check and inspect pipeline definitions (JSON, YAML or TypeScript)');

  cmd.command('lint <file>')
    .description('check a pipeline (.json, .yaml, .yml, or a .ts/.js module exporting it by default); exits 1 on any error')
    .option('--param <name=value...>', 'values for the run: parameters without a default must then be given')
    .action(async (file: string, o: { param?: string[] }, c: Command) => {
      const src = await loadPipelineFile(file);
      const { lintPipeline, hasErrors } = await import('../../pipelines/lint.js');
      const { formatPath, pipelineHash } = await import('../../pipelines/ir.js');
      const findings = lintPipeline(src.ir, { params: paramValues(src.ir, o.param), locate: src.locate });
      const errors = findings.filter((f) => f.severity === 'error').length;
      const warnings = findings.length - errors;
      if (globals(c).json) {
        printJson({ source: file, name: src.ir.name, version: src.ir.version, hash: pipelineHash(src.ir), errors, warnings, findings });
      } else {
        const head = `${src.ir.name} ${src.ir.version} (${file}): ${count(src.ir.steps.length, 'step')}`;
        if (!findings.length) console.log(`${head}, no findings`);
        else {
          console.log(`${head}, ${count(errors, 'error')}, ${count(warnings, 'warning')}`);
          const at = (f: Finding) => (f.line ? `${file}:${f.line}` : f.path ? formatPath(f.path) : '');
          printTable(findings.map((f) => ({ ...f, at: at(f) })), ['severity', 'check', 'at', 'message']);
        }
      }
      if (hasErrors(findings)) process.exitCode = 1;
    });

  cmd.command('show <file>')
    .description('print the steps of a pipeline in the order they can run, with their components and inputs (--json: the IR)')
    .action(async (file: string, _o: unknown, c: Command) => {
      const src = await loadPipelineFile(file);
      if (globals(c).json) {
        printJson(src.ir);
        return;
      }
      const { pipelineHash, topologicalOrder } = await import('../../pipelines/ir.js');
      const ir = src.ir;
      const order = topologicalOrder(ir);
      console.log(`${ir.name} ${ir.version}${ir.description ? `: ${ir.description}` : ''}`);
      console.log(`hash ${pipelineHash(ir)}`);
      if (ir.params.length) {
        console.log(`params: ${ir.params.map((p) => `${p.name} (${p.type})${p.default === undefined ? '' : ` = ${JSON.stringify(p.default)}`}`).join(', ')}`);
      }
      const byName = new Map(ir.steps.map((s) => [s.name, s]));
      printTable(order.map((name) => {
        const s = byName.get(name)!;
        const opts = [
          s.retries ? `retries ${s.retries}` : '',
          s.timeoutSeconds ? `timeout ${s.timeoutSeconds}s` : '',
          s.cache.enabled ? (s.cache.ttlSeconds ? `cache ${s.cache.ttlSeconds}s` : '') : 'no cache',
        ].filter(Boolean);
        return { step: name, component: s.component, inputs: Object.entries(s.inputs).map(([k, v]) => `${k}=${showInput(v)}`).join(' '), options: opts.join(', ') };
      }), ['step', 'component', 'inputs', 'options']);
    });

  cmd.command('resume <run-id>')
    .description('resume a failed or interrupted pipeline run: steps that finished are kept, the rest run again')
    .option('--no-cache', 'run the remaining steps whatever the cache holds')
    .option('--queue <url>', 'run the remaining steps on `trellis worker` processes through this Redis queue')
    .action(async (runId: string, o: { cache: boolean; queue?: string }, c: Command) => {
      await withWorkspace(c, async (ws) => {
        const opened = await ws.pipelines.openEngine(actor(c), { queue: o.queue });
        const { engine } = opened;
        const progress = progressOnStderr(await recordedSteps(ws, runId));
        try {
          const r = await engine.resume(runId, { noCache: !o.cache, onEvent: progress.onEvent });
          progress.stop();
          reportRun(!!globals(c).json, r);
        } finally {
          progress.stop();
          await opened.close();
        }
      });
    });

  cmd.addCommand(pipelinesStepCommand());
  cmd.addCommand(pipelinesRerunCommand());
  cmd.addCommand(pipelinesTriggerCommand());
  cmd.addCommand(pipelinesTriggersCommand());
  cmd.addCommand(pipelinesDeployCommand());
  for (const sub of pipelinesDeploymentCommands()) cmd.addCommand(sub);

  cmd.command('why <run-id> <step>')
    .description("why a step of a pipeline run was served from cache, or was not: the reused run, or the parts of the cache key that changed")
    .action(async (runId: string, step: string, _o: unknown, c: Command) => {
      const server = serverChoice(c)?.url;
      const e = server ? explanationFromJson((await rest(server, 'GET', `/pipelines/why?${new URLSearchParams({ run_id: runId, step })}`)).explanation as Record<string, unknown>)
        : await withWorkspace(c, (ws) => ws.pipelines.explainCache(runId, step));
      output(!!globals(c).json, () => e, () => {
        console.log(`${e.step}: ${e.verdict === 'hit' ? 'cache hit' : 'cache miss'} — ${e.reason}`);
        if (e.changes.length) {
          printTable(e.changes.map((x) => ({ part: x.part, key: x.key ?? '', before: JSON.stringify(x.before), after: JSON.stringify(x.after) })), ['part', 'key', 'before', 'after']);
        }
      });
    });

  cmd.addCommand(pipelinesExportCommand());

  return cmd;
}
