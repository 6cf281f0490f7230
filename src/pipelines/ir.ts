/**
 * The pipeline IR, `trellis.pipeline/v1`: one JSON (or YAML) document describing a DAG of steps,
 * each running a component with its inputs wired to literals, pipeline parameters or the outputs of
 * upstream steps. The SDK (`sdk.ts`) compiles to it, `lint.ts` checks it, executors run it.
 *
 * Parsing checks the structure (every field, its type, no unknown fields) and reports each problem
 * with the path of the field, and its line in the source text; whether the references between the
 * parts agree (components exist, types match, no cycle) is the linter's job, so that one run of the
 * linter reports every such problem at once.
 */
import { Cron } from 'croner';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { TrellisError } from '../core/errors.js';
import { canonicalJson, sha256Hex } from '../core/hash.js';
import { BUILTIN_LIST, findBuiltin } from './builtins.js';

export const PIPELINE_FORMAT = 'trellis.pipeline/v1';

export const SCALAR_TYPES = ['string', 'number', 'integer', 'boolean'] as const;
export const ARTIFACT_TYPES = ['Dataset', 'Model', 'Metrics', 'Report', 'File'] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];
export type ArtifactType = (typeof ARTIFACT_TYPES)[number];
export type ValueType = ScalarType | ArtifactType;
export type Scalar = string | number | boolean;

/** An input wired to a pipeline parameter. */
export interface ParamRef {
  param: string;
}
/** An input wired to an output of an upstream step. */
export interface OutputRef {
  step: string;
  output: string;
}
export type InputValue = Scalar | ParamRef | OutputRef;

export interface InputSpec {
  type: ValueType;
  description?: string;
  /** Scalar inputs only: the value when the step does not set the input. */
  default?: Scalar;
  /** The step may leave the input unset (and the component copes without it). */
  optional?: boolean;
  /** String inputs only: the values allowed. */
  enum?: string[];
}
/** Outputs are artifacts: files or folders, keyed by the hash of their content. */
export interface OutputSpec {
  type: ArtifactType;
  description?: string;
}

interface ComponentBase {
  name: string;
  version: string;
  description?: string;
  inputs: Record<string, InputSpec>;
  outputs: Record<string, OutputSpec>;
}
/** Implemented by the platform (`builtins.ts`). */
export interface BuiltinComponent extends ComponentBase {
  kind: 'builtin';
}
/** A function exported by a TypeScript/JavaScript module, run in a child process or worker. */
export interface TypeScriptComponent extends ComponentBase {
  kind: 'typescript';
  /** Module specifier: a path relative to the pipeline file's folder, or an absolute `file:` URL. */
  module: string;
  /** The export holding the component (made with `component()` from the SDK). */
  export: string;
}
/** A program run with an argv whose `{inputs.x}`, `{outputs.x}`, `{params.x}` placeholders are filled in. */
export interface CommandComponent extends ComponentBase {
  kind: 'command';
  command: string[];
  env?: Record<string, string>;
  workdir?: string;
  /** Container image, for exports to container-based engines. */
  image?: string;
}
export type ComponentDef = BuiltinComponent | TypeScriptComponent | CommandComponent;
export type ComponentKind = ComponentDef['kind'];

export interface CacheOptions {
  enabled: boolean;
  ttlSeconds?: number;
}
export interface Step {
  name: string;
  /** `name` or `name@version` of a component in `components` or of a built-in. */
  component: string;
  description?: string;
  inputs: Record<string, InputValue>;
  cache: CacheOptions;
  retries: number;
  timeoutSeconds?: number;
}
export interface ParamDecl {
  name: string;
  type: ScalarType;
  default?: Scalar;
  description?: string;
}
/** Values a trigger gives the pipeline's parameters for the runs it starts. */
export type TriggerParams = Record<string, Scalar>;
/** On a schedule: a cron expression (5 fields, or 6 with seconds), in `timezone` (default UTC). */
export interface CronTrigger {
  cron: string;
  timezone?: string;
  params?: TriggerParams;
}
/** When a new version of the named dataset is added. */
export interface DatasetTrigger {
  dataset: string;
  params?: TriggerParams;
}
/** When a run of the named pipeline finishes successfully. */
export interface PipelineTrigger {
  pipeline: string;
  params?: TriggerParams;
}
/** When asked through the API (`POST …/pipelines/trigger`, `trellis pipelines trigger`). */
export interface ApiTrigger {
  api: true;
  params?: TriggerParams;
}
export type TriggerSpec = CronTrigger | DatasetTrigger | PipelineTrigger | ApiTrigger;
export const CONCURRENCY_POLICIES = ['skip', 'queue', 'cancel-previous'] as const;
/** What a trigger does while a run of the pipeline is in progress: `queue` (the default) waits for it. */
export type ConcurrencyPolicy = (typeof CONCURRENCY_POLICIES)[number];

export interface PipelineIR {
  format: typeof PIPELINE_FORMAT;
  name: string;
  version: string;
  description?: string;
  params: ParamDecl[];
  components: ComponentDef[];
  steps: Step[];
  /** What starts the pipeline once it is deployed (absent: it runs only when asked). */
  triggers?: TriggerSpec[];
  concurrency?: ConcurrencyPolicy;
}

// ---------------------------------------------------------------------------------------------
// Schema

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

const name = (what: string) => z.string().regex(NAME, `${what} must start with a letter or _ and hold only letters, digits, _ and -`);
const ident = (what: string) => z.string().regex(IDENT, `${what} must be an identifier: a letter or _, then letters, digits or _`);
const identKeys = <T extends z.ZodType>(what: string, v: T) => z.record(ident(what), v);
const text = z.string();
const version = z.string().regex(VERSION, 'a version holds letters, digits and . _ + - (e.g. "1" or "1.2.0")');
const scalar = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, a number or a boolean' });
const seconds = z.number().positive('expected a number of seconds > 0').finite('expected a number of seconds > 0');
const valueType = z.enum([...SCALAR_TYPES, ...ARTIFACT_TYPES], { error: `expected a type: ${[...SCALAR_TYPES, ...ARTIFACT_TYPES].join(', ')}` });

const inputValue = z.union([
  z.string(), z.number(), z.boolean(),
  z.strictObject({ param: z.string() }),
  z.strictObject({ step: z.string(), output: z.string() }),
], { error: 'expected a literal (string, number or boolean), { param: NAME } or { step: STEP, output: OUTPUT }' });

const inputSpec = z.strictObject({
  type: valueType,
  description: text.optional(),
  default: scalar.optional(),
  optional: z.boolean().optional(),
  enum: z.array(z.string()).min(1).optional(),
});
const outputSpec = z.strictObject({
  type: z.enum(ARTIFACT_TYPES, { error: `expected an artifact type: ${ARTIFACT_TYPES.join(', ')} (outputs are files)` }),
  description: text.optional(),
});

const componentBase = {
  name: name('a component name'),
  version,
  description: text.optional(),
  inputs: identKeys('an input name', inputSpec).default({}),
  outputs: identKeys('an output name', outputSpec).default({}),
};
const componentSchema = z.discriminatedUnion('kind', [
  z.strictObject({ ...componentBase, kind: z.literal('builtin') }),
  z.strictObject({ ...componentBase, kind: z.literal('typescript'), module: z.string().min(1), export: z.string().min(1).default('default') }),
  z.strictObject({
    ...componentBase,
    kind: z.literal('command'),
    command: z.array(z.string()).min(1, 'a command needs at least the program to run'),
    env: z.record(z.string(), z.string()).optional(),
    workdir: z.string().optional(),
    image: z.string().optional(),
  }),
], { error: "expected 'kind' to be builtin, typescript or command" });

const stepSchema = z.strictObject({
  name: name('a step name'),
  component: z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*(@[A-Za-z0-9][A-Za-z0-9._+-]*)?$/, 'expected a component reference: name or name@version'),
  description: text.optional(),
  inputs: identKeys('an input name', inputValue).default({}),
  cache: z.strictObject({ enabled: z.boolean().default(true), ttlSeconds: seconds.optional() }).default({ enabled: true }),
  retries: z.number().int('expected an integer from 0 to 100').min(0, 'expected an integer from 0 to 100').max(100, 'expected an integer from 0 to 100').default(0),
  timeoutSeconds: seconds.optional(),
});

const paramSchema = z.strictObject({
  name: ident('a parameter name'),
  type: z.enum(SCALAR_TYPES, { error: `expected a parameter type: ${SCALAR_TYPES.join(', ')}` }),
  default: scalar.optional(),
  description: text.optional(),
});

/** Why a cron expression cannot schedule anything, or undefined when it can. */
export function cronProblem(expr: string, timezone?: string): string | undefined {
  try {
    return new Cron(expr, { timezone: timezone ?? 'UTC', paused: true }).nextRun() ? undefined : `cron expression '${expr}' never fires`;
  } catch (e) {
    const m = (e as Error).message.replace(/^CronPattern: /, '');
    return /time ?zone/i.test(m) ? `unknown timezone '${timezone}': use an IANA name such as 'Europe/Paris' or 'UTC'` : `invalid cron expression '${expr}': ${m}`;
  }
}

const triggerParams = identKeys('a parameter name', scalar).optional();
const cronTrigger = z.strictObject({ cron: z.string(), timezone: z.string().min(1).optional(), params: triggerParams })
  .superRefine((t, ctx) => {
    const problem = cronProblem(t.cron, t.timezone);
    if (problem) ctx.addIssue({ code: 'custom', path: [problem.startsWith('unknown timezone') ? 'timezone' : 'cron'], message: problem });
  });
const triggerSchema = z.union([
  cronTrigger,
  z.strictObject({ dataset: z.string().regex(/^[A-Za-z0-9][\w.-]*$/, "a dataset name: letters, digits, '_', '-' and '.'"), params: triggerParams }),
  z.strictObject({ pipeline: name('a pipeline name'), params: triggerParams }),
  z.strictObject({ api: z.literal(true, { error: 'expected api: true' }), params: triggerParams }),
], { error: 'expected a trigger: { cron: EXPR, timezone?: ZONE }, { dataset: NAME }, { pipeline: NAME } or { api: true }, each with optional params' });

export const pipelineSchema = z.strictObject({
  format: z.literal(PIPELINE_FORMAT, { error: `expected format '${PIPELINE_FORMAT}'` }),
  name: name('a pipeline name'),
  version: version.default('1'),
  description: text.optional(),
  params: z.array(paramSchema).default([]),
  components: z.array(componentSchema).default([]),
  steps: z.array(stepSchema).min(1, 'a pipeline needs at least one step'),
  triggers: z.array(triggerSchema).optional(),
  concurrency: z.enum(CONCURRENCY_POLICIES, { error: `expected a concurrency policy: ${CONCURRENCY_POLICIES.join(', ')}` }).optional(),
});

// The schema and the interfaces above describe the same documents.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesTypes: Same<z.output<typeof pipelineSchema>, PipelineIR> = true;
void schemaMatchesTypes;
// The built-in catalog is made of valid component definitions.
type DeepReadonly<T> = T extends (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;
const builtinsAreComponents: readonly DeepReadonly<ComponentDef>[] = BUILTIN_LIST;
void builtinsAreComponents;

// ---------------------------------------------------------------------------------------------
// Parsing

export type Path = (string | number)[];

/** `steps[2].inputs.data` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(document)';
}

/** A parsed pipeline with a way back to where each field was written. */
export interface PipelineSource {
  ir: PipelineIR;
  sourceName: string;
  /** The 1-based line of the field at `path` (or of its nearest enclosing field), when known. A plain function: pass it on as it is. */
  locate: (path: readonly PropertyKey[]) => number | undefined;
}

const invalidPipeline = (source: string, problems: string[]) =>
  new TrellisError('TRELLIS_PIPELINE_INVALID', { source, detail: problems.length === 1 ? problems[0]! : `\n  ${problems.join('\n  ')}` });

/** Parses JSON (`.json`, or text starting with `{`) or YAML, checks it and normalizes it. */
export function parsePipeline(text: string, sourceName: string): PipelineIR {
  return parsePipelineSource(text, sourceName).ir;
}

export function parsePipelineSource(text: string, sourceName: string): PipelineSource {
  const json = /\.json$/i.test(sourceName) || (!/\.ya?ml$/i.test(sourceName) && text.trimStart().startsWith('{'));
  const lineCounter = new LineCounter();
  // JSON is YAML too: the YAML reading of a JSON text gives line numbers and catches duplicate keys.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  // For JSON, the YAML reading only adds lines and the duplicate-key check; JSON.parse has the last word.
  const errors = json ? doc.errors.filter((e) => e.code === 'DUPLICATE_KEY') : doc.errors;
  const lineOf = (offset: number) => lineCounter.linePos(offset).line;
  const locate = (path: readonly PropertyKey[]) => (doc.errors.length ? undefined : locateNode(doc.contents, path, lineOf));
  let value: unknown;
  if (json) {
    try {
      value = JSON.parse(text);
    } catch (e) {
      const at = doc.errors[0]?.linePos?.[0];
      // V8's message quotes the text around the error; the line and column say where more briefly.
      const why = (e as Error).message.replace(/,\s*(\.\.\.)?".*$/s, '').replace(/ in JSON at position \d+.*$/s, '');
      throw invalidPipeline(sourceName, [`not valid JSON${at ? ` (line ${at.line}, column ${at.col})` : ''}: ${why}`]);
    }
  }
  if (errors.length) {
    throw invalidPipeline(sourceName, errors.slice(0, 5).map((e) => {
      const at = e.linePos?.[0];
      const where = at ? ` (line ${at.line}, column ${at.col})` : '';
      return `not valid ${json ? 'JSON' : 'YAML'}${where}: ${e.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '')}`;
    }));
  }
  if (!json) value = doc.toJS();
  return { ir: validatePipeline(value, sourceName, locate), sourceName, locate };
}

/** Checks a value (parsed JSON/YAML, or what the SDK built) against the schema and normalizes it. */
export function validatePipeline(value: unknown, sourceName: string, locate?: (path: readonly PropertyKey[]) => number | undefined): PipelineIR {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidPipeline(sourceName, [`expected an object with format '${PIPELINE_FORMAT}', name and steps; got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`]);
  }
  const r = pipelineSchema.safeParse(value);
  if (!r.success) {
    const problems = r.error.issues.slice(0, 20).map((i) => {
      const keys = i.code === 'unrecognized_keys' ? i.keys : [];
      const path = [...i.path, ...keys.slice(0, 1)];
      const line = locate?.(path);
      return `${formatPath(i.path)}${line ? ` (line ${line})` : ''}: ${issueMessage(i)}`;
    });
    if (r.error.issues.length > 20) problems.push(`… and ${r.error.issues.length - 20} more problems`);
    throw invalidPipeline(sourceName, problems);
  }
  return normalizePipeline(r.data);
}

function issueMessage(i: z.core.$ZodIssue): string {
  if (i.code === 'unrecognized_keys') return `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')}`;
  const m = i.message.replace(/^Invalid input: /, '');
  if (i.code === 'invalid_type' && /received undefined$/.test(m)) return `missing (${m.replace(/, received undefined$/, '')})`;
  return m.replace(/, received /, ', got ');
}

function locateNode(root: YamlNode | null, path: readonly PropertyKey[], lineOf: (offset: number) => number): number | undefined {
  let node: unknown = root;
  let offset = root?.range?.[0];
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
      if (!pair) break;
      offset = (pair.key as YamlNode).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number' && node.items[key]) {
      node = node.items[key];
      offset = (node as YamlNode).range?.[0] ?? offset;
    } else break;
  }
  return offset === undefined ? undefined : lineOf(offset);
}

// ---------------------------------------------------------------------------------------------
// Normal form, hash, graph

export function isParamRef(v: InputValue | undefined): v is ParamRef {
  return typeof v === 'object' && v !== null && 'param' in v;
}
export function isOutputRef(v: InputValue | undefined): v is OutputRef {
  return typeof v === 'object' && v !== null && 'step' in v;
}

export function splitComponentRef(ref: string): { name: string; version?: string } {
  const at = ref.indexOf('@');
  return at < 0 ? { name: ref } : { name: ref.slice(0, at), version: ref.slice(at + 1) };
}

/** The components of `ir` that a reference names: none, one, or several (ambiguous or duplicated). */
export function componentsFor(ir: Pick<PipelineIR, 'components'>, ref: string): ComponentDef[] {
  const { name: n, version: v } = splitComponentRef(ref);
  return ir.components.filter((c) => c.name === n && (v === undefined || c.version === v));
}

/**
 * The normal form: each step's component reference written `name@version`, and the definition of
 * each built-in a step uses added to `components` (after the pipeline's own). References that name
 * no component, or several, are left as written for the linter to report. Idempotent.
 */
export function normalizePipeline(ir: PipelineIR): PipelineIR {
  const out = structuredClone(ir);
  const own = { components: [...out.components] };
  for (const step of out.steps) {
    const found = componentsFor(own, step.component);
    if (found.length === 1) {
      step.component = `${found[0]!.name}@${found[0]!.version}`;
      continue;
    }
    if (found.length > 1) continue;
    const { name: n, version: v } = splitComponentRef(step.component);
    const b = findBuiltin(n, v);
    if (!b) continue;
    step.component = `${b.name}@${b.version}`;
    if (!componentsFor(out, step.component).length) out.components.push(structuredClone(b) as unknown as ComponentDef);
  }
  return out;
}

/**
 * sha256 (hex) of the canonical JSON of the normal form, with components and parameters sorted by
 * name: two documents that say the same thing, in JSON, YAML or built by the SDK, hash equally.
 */
export function pipelineHash(ir: PipelineIR): string {
  const n = normalizePipeline(ir);
  const byKey = <T>(key: (x: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
  n.components.sort(byKey((c) => `${c.name}@${c.version}`));
  n.params.sort(byKey((p) => p.name));
  return sha256Hex(canonicalJson(n));
}

/** The names of the steps whose outputs `step` reads (each once, in input order). */
export function upstreamSteps(step: Step): string[] {
  return [...new Set(Object.values(step.inputs).filter(isOutputRef).map((r) => r.step))];
}

/**
 * The cycles among the steps, each as the step names along it, starting from its earliest step
 * (`[a, b, c]` for a → b → c → a; `[a]` for a step that reads its own output). One cycle per
 * strongly connected component.
 */
export function findCycles(ir: Pick<PipelineIR, 'steps'>): string[][] {
  const index = new Map<string, number>();
  ir.steps.forEach((s, i) => { if (!index.has(s.name)) index.set(s.name, i); });
  const edges = ir.steps.map((s) => upstreamSteps(s).map((u) => index.get(u)).filter((u): u is number => u !== undefined));
  // Tarjan's strongly connected components, iteratively.
  const n = ir.steps.length;
  const order = new Array<number>(n).fill(-1);
  const low = new Array<number>(n).fill(0);
  const onStack = new Array<boolean>(n).fill(false);
  const stack: number[] = [];
  const sccs: number[][] = [];
  let counter = 0;
  for (let root = 0; root < n; root++) {
    if (order[root] !== -1) continue;
    const work: [number, number][] = [[root, 0]];
    order[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = true;
    while (work.length) {
      const top = work[work.length - 1]!;
      const [v, k] = top;
      if (k < edges[v]!.length) {
        top[1]++;
        const w = edges[v]![k]!;
        if (order[w] === -1) {
          order[w] = low[w] = counter++;
          stack.push(w);
          onStack[w] = true;
          work.push([w, 0]);
        } else if (onStack[w]) low[v] = Math.min(low[v]!, order[w]!);
        continue;
      }
      work.pop();
      if (work.length) low[work[work.length - 1]![0]] = Math.min(low[work[work.length - 1]![0]]!, low[v]!);
      if (low[v] === order[v]) {
        const scc: number[] = [];
        let w: number;
        do {
          w = stack.pop()!;
          onStack[w] = false;
          scc.push(w);
        } while (w !== v);
        if (scc.length > 1 || edges[v]!.includes(v)) sccs.push(scc);
      }
    }
  }
  return sccs
    .map((scc) => cycleWithin(new Set(scc), edges))
    .sort((a, b) => a[0]! - b[0]!)
    .map((c) => c.map((i) => ir.steps[i]!.name));
}

/** A shortest cycle through the earliest step of a strongly connected component (breadth-first). */
function cycleWithin(members: Set<number>, edges: number[][]): number[] {
  const start = Math.min(...members);
  const prev = new Map<number, number>();
  const queue = [start];
  for (let q = 0; q < queue.length; q++) {
    const v = queue[q]!;
    for (const w of edges[v]!) {
      if (!members.has(w)) continue;
      if (w === start) {
        // Edges point from a step to the steps it reads: walking back from `v` follows the data.
        const path = [v];
        while (path[path.length - 1] !== start) path.push(prev.get(path[path.length - 1]!)!);
        path.pop();
        return [start, ...path];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

/**
 * Step names in an order where every step comes after the steps it reads; among steps that are
 * ready together, the one declared first goes first. A cycle is an error naming its steps.
 */
export function topologicalOrder(ir: Pick<PipelineIR, 'steps'> & { name?: string }): string[] {
  const cycles = findCycles(ir);
  if (cycles.length) {
    throw new TrellisError('TRELLIS_PIPELINE_INVALID', { source: ir.name ?? 'pipeline', detail: `steps form a cycle: ${[...cycles[0]!, cycles[0]![0]].join(' → ')}` });
  }
  const first = new Map<string, number>();
  ir.steps.forEach((s, i) => { if (!first.has(s.name)) first.set(s.name, i); });
  const reads = ir.steps.map((s, i) => upstreamSteps(s).map((u) => first.get(u)).filter((u): u is number => u !== undefined && u !== i));
  const placed = new Array<boolean>(ir.steps.length).fill(false);
  const order: string[] = [];
  for (;;) {
    const i = reads.findIndex((r, j) => !placed[j] && r.every((u) => placed[u]));
    if (i < 0) break;
    placed[i] = true;
    order.push(ir.steps[i]!.name);
  }
  return order;
}
