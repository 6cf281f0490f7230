/**
 * Runs a command component — a program in any language — as an argv array, without a shell.
 * The contract with the program (also in README.md):
 *
 * - Arguments may contain `{inputs.<name>}` (an input's absolute path, or a scalar's value),
 *   `{outputs.<name>}` (where to write that output: `<outputDir>/<name>`, a file or a directory),
 *   `{params.<name>}` (the value of a pipeline parameter, given in the spec's `params`) and
 *   `{outputDir}`; anything else in braces is passed through unchanged.
 * - Environment: the executor's own, then the component's `env`, then exactly this step's
 *   `TRELLIS_STEP`, `TRELLIS_ATTEMPT`, `TRELLIS_OUTPUT_DIR`, `TRELLIS_METRICS_FILE`,
 *   `TRELLIS_INPUT_<NAME>` and `TRELLIS_OUTPUT_<NAME>` (names upper-cased; such variables
 *   inherited from an enclosing step are dropped).
 * - Exit code 0 is success; an exit code in `retryableExitCodes` (default 75, EX_TEMPFAIL) is a
 *   transient failure that the step's `retries` may retry; any other is the component's error.
 * - Metrics: optionally a JSON object of name → number in `<outputDir>/metrics.json`.
 * - stdout and stderr go to the step log; the last lines of stderr are quoted when it fails.
 * - Its outputs are opaque artifacts to Trellis: hashed and passed on, never loaded as code.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { invalid, TrellisError } from '../../core/errors.js';
import { runAttempts, type AttemptHandle, type Launch } from './attempts.js';
import { launchAs, type RunAs } from './run-as.js';
import { signalGroup, spawnGroup, stopGroup } from './process-tree.js';
import { drain, OutputTail, pipeInto } from './step-log.js';
import { checkStepSpec, isArtifact, type CommandComponent, type ResolvedStep, type StepResult, type StepSpec } from './step-spec.js';

export interface CommandStepOptions {
  /** After a timeout or cancel, how long the process group gets between SIGTERM and SIGKILL (default 2000 ms). */
  killGraceMs?: number;
  /** The environment the component starts from (default: this process's); see {@link scrubbedEnv}. */
  baseEnv?: NodeJS.ProcessEnv;
  /** The user the command runs as (this process must be root), its output folder handed to it for each attempt; see `run-as.ts`. */
  runAs?: RunAs;
}

/** The variables a component of a deployed pipeline keeps from the server's environment: none that can hold a secret. */
const KEPT = /^(PATH|LANG|LANGUAGE|LC_[A-Z]+|TZ|TMPDIR|TEMP|TMP|SYSTEMROOT|PYTHONIOENCODING)$/;

/**
 * The environment for code the server did not write (a deployed pipeline's commands and modules):
 * the locale, the path and the temporary folder, nothing else — no store URI, password, token or
 * cloud credential of the server's. `HOME` is the step's own folder.
 */
export function scrubbedEnv(home: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(env).filter(([k]) => KEPT.test(k))), HOME: home };
}

export const DEFAULT_RETRYABLE_EXIT_CODES = [75];

const STEP_VARIABLE = /^TRELLIS_(STEP|ATTEMPT|OUTPUT_DIR|METRICS_FILE|INPUT_.+|OUTPUT_.+)$/;
const PLACEHOLDER = /\{(?:(inputs|outputs|params)\.([A-Za-z_][A-Za-z0-9_]*)|outputDir)\}/g;

/** `arg` with its placeholders filled in; an unknown input, output or parameter name is an error. */
export function substitute(arg: string, r: ResolvedStep): string {
  return arg.replace(PLACEHOLDER, (whole, group: string | undefined, name: string | undefined) => {
    if (!group) return r.outputDir;
    if (group === 'inputs') {
      const v = r.inputs[name!];
      if (v === undefined) throw invalid(`step '${r.step}': argument '${arg}' refers to ${whole}, but the step has no input '${name}' (inputs: ${Object.keys(r.inputs).join(', ') || 'none'})`);
      return isArtifact(v) ? v.path : String(v);
    }
    if (group === 'params') {
      const v = r.params[name!];
      if (v === undefined) throw invalid(`step '${r.step}': argument '${arg}' refers to ${whole}, but no value was given for parameter '${name}' (parameters: ${Object.keys(r.params).join(', ') || 'none'})`);
      return String(v);
    }
    const o = r.outputs[name!];
    if (!o) throw invalid(`step '${r.step}': argument '${arg}' refers to ${whole}, but the step declares no output '${name}' (outputs: ${Object.keys(r.outputs).join(', ') || 'none'})`);
    return o.path;
  });
}

export function stepEnv(r: ResolvedStep, attempt: number, own: Record<string, string> = {}, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  // A step's variables inherited from an enclosing step (an executor run inside a component) would mislead.
  const inherited = Object.entries(base).filter(([k]) => !STEP_VARIABLE.test(k));
  const env: NodeJS.ProcessEnv = { ...Object.fromEntries(inherited), ...own };
  env.TRELLIS_STEP = r.step;
  env.TRELLIS_ATTEMPT = String(attempt);
  env.TRELLIS_OUTPUT_DIR = r.outputDir;
  env.TRELLIS_METRICS_FILE = r.metricsPath;
  for (const [name, v] of Object.entries(r.inputs)) env[`TRELLIS_INPUT_${name.toUpperCase()}`] = isArtifact(v) ? v.path : String(v);
  for (const [name, o] of Object.entries(r.outputs)) env[`TRELLIS_OUTPUT_${name.toUpperCase()}`] = o.path;
  return env;
}

export async function runCommandStep(spec: StepSpec, options: CommandStepOptions = {}): Promise<StepResult> {
  const r = checkStepSpec(spec, 'command');
  const c = spec.component as StepSpec['component'] & CommandComponent;
  const at = `step '${r.step}'`;
  if (!Array.isArray(c.command) || !c.command.length || !c.command.every((a) => typeof a === 'string') || !c.command[0]) {
    throw invalid(`${at}: command must be a non-empty array of strings (argv, no shell)`);
  }
  for (const [k, v] of Object.entries(c.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || typeof v !== 'string') throw invalid(`${at}: env '${k}' must be a variable name with a string value`);
  }
  const cwd = c.workdir ? resolve(c.workdir) : process.cwd();
  if (!existsSync(cwd) || !statSync(cwd).isDirectory()) throw invalid(`${at}: workdir ${cwd} is not a directory`);
  const retryable = c.retryableExitCodes ?? DEFAULT_RETRYABLE_EXIT_CODES;
  if (!Array.isArray(retryable) || !retryable.every((n) => Number.isInteger(n) && n > 0 && n < 256)) {
    throw invalid(`${at}: retryableExitCodes must be exit codes from 1 to 255`);
  }
  const argv = c.command.map((a) => substitute(a, r));
  const graceMs = options.killGraceMs ?? 2000;
  const { runAs } = options;
  const each: Launch = (attempt, log) => launch(r, argv, cwd, stepEnv(r, attempt, c.env, options.baseEnv), retryable, log, graceMs, runAs);
  return runAttempts(r, runAs ? launchAs(runAs, r.outputDir, r.step, each) : each);
}

function launch(r: ResolvedStep, argv: string[], cwd: string, env: NodeJS.ProcessEnv, retryable: number[], log: Writable, graceMs: number, runAs?: RunAs): AttemptHandle {
  const ids = runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
  const child = spawnGroup(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], ...ids });
  const tail = new OutputTail();
  const streams = [pipeInto(child.stdout, log), pipeInto(child.stderr, log, tail)];
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => {
      signalGroup(child, 'SIGKILL'); // what the command started and left running
      resolve({ code, signal });
    });
  });
  const done = ended.then(async ({ code, signal, error }) => {
    await drain([child.stdout, child.stderr], streams);
    if (error) throw new TrellisError('TRELLIS_STEP_FAILED', { step: r.step, detail: `cannot start '${argv[0]}': ${error.message}` }, { cause: error });
    if (code === 0) return {};
    if (signal) throw new TrellisError('TRELLIS_STEP_FAILED', { step: r.step, signal, detail: `the command was killed by ${signal}${tail.describe()}` });
    const transient = retryable.includes(code!);
    throw new TrellisError(transient ? 'TRELLIS_STEP_TRANSIENT' : 'TRELLIS_STEP_FAILED', {
      step: r.step, exitCode: code!, stderrTail: tail.lines().join('\n'), detail: `the command exited with code ${code}${tail.describe()}`,
    });
  });
  return {
    done,
    stop: async () => {
      await stopGroup(child, graceMs);
      await drain([child.stdout, child.stderr], streams);
    },
  };
}
