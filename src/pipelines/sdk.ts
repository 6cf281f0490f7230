/**
 * Pipelines as TypeScript code, compiled to the IR (`trellis.pipeline/v1`):
 *
 * ```ts
 * export default pipeline('bike', (p) => {
 *   const data = p.step('ingest', builtin.ingest, { dataset: p.param('dataset', 'string', { default: 'bike@latest' }) });
 *   const split = p.step('split', builtin.split, { data: data.outputs.data, strategy: 'time', orderBy: 'dteday,hr' });
 *   p.step('train', builtin.train, { data: split.outputs.train, target: 'cnt' });
 * });
 * ```
 *
 * Outputs and parameters are typed handles, so TypeScript refuses a `Model` output wired into a
 * `Dataset` input, an unknown input name, a missing required input or a value outside an input's
 * allowed values; the linter checks the same things for pipelines written as JSON or YAML.
 */
import { dirname, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTINS, BUILTIN_LIST, type BuiltinCatalog } from './builtins.js';
import {
  PIPELINE_FORMAT, validatePipeline,
  type ArtifactType, type CacheOptions, type ComponentDef, type ComponentKind, type ConcurrencyPolicy, type InputValue, type OutputRef, type ParamRef,
  type PipelineIR, type Scalar, type ScalarType, type TriggerSpec, type ValueType,
} from './ir.js';

export interface InputSpecLike {
  readonly type: ValueType;
  readonly description?: string;
  readonly default?: Scalar;
  readonly optional?: boolean;
  readonly enum?: readonly string[];
}
export interface OutputSpecLike {
  readonly type: ArtifactType;
  readonly description?: string;
}
export type InputSpecs = { readonly [name: string]: InputSpecLike };
export type OutputSpecs = { readonly [name: string]: OutputSpecLike };

/** A component the SDK can wire, with its input and output types visible to TypeScript. */
export interface Component<I extends InputSpecs = InputSpecs, O extends OutputSpecs = OutputSpecs> {
  readonly kind: ComponentKind;
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly inputs: I;
  readonly outputs: O;
}

/** An output of a step, to wire into inputs of later steps. */
export class OutputHandle<T extends ArtifactType = ArtifactType> {
  constructor(readonly step: string, readonly output: string, readonly type: T) {}
  toJSON(): OutputRef {
    return { step: this.step, output: this.output };
  }
}

/** A pipeline parameter, to wire into scalar inputs. */
export class ParamHandle<T extends ScalarType = ScalarType> {
  constructor(readonly param: string, readonly type: T) {}
  toJSON(): ParamRef {
    return { param: this.param };
  }
}

type TsOf<T> = T extends 'string' ? string : T extends 'boolean' ? boolean : T extends 'number' | 'integer' ? number : never;
/** An integer parameter may feed a number input. */
type Feeds<T> = T extends 'number' ? 'number' | 'integer' : T;
/** What may be wired into an input of this spec. */
export type Wire<S extends InputSpecLike> = S['type'] extends ScalarType
  ? (S extends { readonly enum: readonly (infer E)[] } ? E : TsOf<S['type']>) | ParamHandle<Feeds<S['type']> & ScalarType>
  : OutputHandle<S['type'] & ArtifactType>;
type HasDefault<S> = S extends { readonly default: Scalar } ? true : S extends { readonly optional: true } ? true : false;
/** The inputs a step gives its component: required ones must be there, the others may. */
export type StepInputs<I extends InputSpecs> =
  { [K in keyof I as HasDefault<I[K]> extends true ? never : K]: Wire<I[K]> } &
  { [K in keyof I as HasDefault<I[K]> extends true ? K : never]?: Wire<I[K]> };

export interface StepHandle<O extends OutputSpecs> {
  readonly name: string;
  readonly outputs: { readonly [K in keyof O]: OutputHandle<O[K]['type']> };
}

export interface StepOptions {
  description?: string;
  cache?: Partial<CacheOptions>;
  retries?: number;
  timeoutSeconds?: number;
}

export interface PipelineBuilder {
  /** Declares a pipeline parameter; its value is given when the pipeline runs. */
  param<T extends ScalarType>(name: string, type: T, options?: { default?: TsOf<T>; description?: string }): ParamHandle<T>;
  /** Adds a step running `component` with these inputs. */
  step<I extends InputSpecs, O extends OutputSpecs>(name: string, component: Component<I, O>, inputs: NoInfer<StepInputs<I>>, options?: StepOptions): StepHandle<O>;
}

export interface PipelineOptions {
  /** Default '1'. */
  version?: string;
  description?: string;
  /** The pipeline file's `import.meta.url`: TypeScript component modules are then recorded relative to its folder. */
  baseUrl?: string;
  /** What starts the pipeline once deployed: `{ cron: '0 3 * * *' }`, `{ dataset: 'bike' }`, `{ pipeline: 'etl' }`, `{ api: true }`. */
  triggers?: TriggerSpec[];
  /** While a run is in progress, a new trigger waits (`queue`, the default), is dropped (`skip`) or replaces it (`cancel-previous`). */
  concurrency?: ConcurrencyPolicy;
}

// ---------------------------------------------------------------------------------------------
// Components

/** What a TypeScript component's function receives when its step runs. */
export interface RunContext<I extends InputSpecs, O extends OutputSpecs> {
  step: string;
  /** 1 on the first attempt, 2 on the first retry, … */
  attempt: number;
  /** Artifact inputs as `{ type, path }` (absolute paths), scalars as they are. */
  inputs: { [K in keyof I]: I[K]['type'] extends ScalarType ? TsOf<I[K]['type']> : { type: I[K]['type']; path: string } };
  /** Where to write each output: a file or a folder at `path`. */
  outputs: { [K in keyof O]: { type: O[K]['type']; path: string } };
  outputDir: string;
  log(message: string): void;
  metric(name: string, value: number): void;
}

/** A TypeScript component: the function the executor calls, carrying its definition. */
export type TypeScriptComponent<I extends InputSpecs, O extends OutputSpecs> = Component<I, O> & {
  readonly kind: 'typescript';
  readonly module: string;
  readonly export: string;
  (ctx: RunContext<I, O>): Promise<void>;
};

const camel = (s: string) => s.replace(/[-_]+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * A component written in TypeScript. Export the result from the module named by `module`
 * (pass `import.meta.url`) under `export` (default: the name in camelCase, `feature-prep` →
 * `featurePrep`); the executor imports it from there and calls it with the step's context.
 */
export function component<const I extends InputSpecs, const O extends OutputSpecs>(def: {
  name: string;
  version: string;
  description?: string;
  module: string;
  export?: string;
  inputs: I;
  outputs: O;
  run: (ctx: RunContext<I, O>) => void | Promise<void>;
}): TypeScriptComponent<I, O> {
  const { run, name, ...rest } = def;
  const fn = async (ctx: RunContext<I, O>) => { await run(ctx); };
  // A function's own `name` is read-only to assignment, not to definition.
  Object.defineProperty(fn, 'name', { value: name });
  return Object.assign(fn, { ...rest, kind: 'typescript' as const, export: def.export ?? camel(name) });
}

export type CommandComponent<I extends InputSpecs, O extends OutputSpecs> = Component<I, O> & {
  readonly kind: 'command';
  readonly command: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly workdir?: string;
  readonly image?: string;
};

/**
 * A component run as a program: `command` is the argv, where `{inputs.x}` is an input's path or
 * value, `{outputs.x}` the path to write an output at and `{params.x}` a pipeline parameter.
 */
export function commandComponent<const I extends InputSpecs, const O extends OutputSpecs>(def: {
  name: string;
  version: string;
  description?: string;
  inputs: I;
  outputs: O;
  command: readonly string[];
  env?: Record<string, string>;
  workdir?: string;
  image?: string;
}): CommandComponent<I, O> {
  return { ...def, kind: 'command' };
}

type BuiltinByName = { [K in keyof BuiltinCatalog as BuiltinCatalog[K]['name']]: BuiltinCatalog[K] };

/** The built-in components: `builtin.train`, or `builtin('batch-score')`. */
export const builtin: BuiltinCatalog & (<N extends keyof BuiltinByName>(name: N) => BuiltinByName[N]) = Object.assign(
  <N extends keyof BuiltinByName>(name: N): BuiltinByName[N] => {
    const c = BUILTIN_LIST.find((b) => b.name === name);
    if (!c) throw new TypeError(`no built-in component '${String(name)}'; the built-ins are ${BUILTIN_LIST.map((b) => b.name).join(', ')}`);
    return c as BuiltinByName[N];
  },
  BUILTINS,
);

// ---------------------------------------------------------------------------------------------
// Pipelines

/** Builds a pipeline by calling `build` with a builder, and returns its checked, normal IR. */
export function pipeline(name: string, build: (p: PipelineBuilder) => void, options: PipelineOptions = {}): PipelineIR {
  const params: PipelineIR['params'] = [];
  const steps: Record<string, unknown>[] = [];
  const components: ComponentDef[] = [];
  const seen = new Set<Component>();
  const builder: PipelineBuilder = {
    param(paramName, type, o = {}) {
      params.push({ name: paramName, type, ...(o.default === undefined ? {} : { default: o.default }), ...(o.description === undefined ? {} : { description: o.description }) });
      return new ParamHandle(paramName, type);
    },
    step(stepName, c, inputs, o = {}) {
      const isBuiltin = (BUILTIN_LIST as readonly unknown[]).includes(c);
      if (!isBuiltin && !seen.has(c)) {
        seen.add(c);
        components.push(definition(c, options.baseUrl));
      }
      const wired: Record<string, InputValue> = {};
      for (const [k, v] of Object.entries(inputs)) {
        if (v !== undefined) wired[k] = (v instanceof OutputHandle || v instanceof ParamHandle ? v.toJSON() : v) as InputValue;
      }
      steps.push({
        name: stepName, component: `${c.name}@${c.version}`, inputs: wired,
        ...(o.description === undefined ? {} : { description: o.description }),
        ...(o.cache === undefined ? {} : { cache: o.cache }),
        ...(o.retries === undefined ? {} : { retries: o.retries }),
        ...(o.timeoutSeconds === undefined ? {} : { timeoutSeconds: o.timeoutSeconds }),
      });
      const outputs = Object.fromEntries(Object.entries(c.outputs).map(([k, spec]) => [k, new OutputHandle(stepName, k, spec.type)]));
      return { name: stepName, outputs } as StepHandle<typeof c.outputs>;
    },
  };
  build(builder);
  const ir = {
    format: PIPELINE_FORMAT, name, version: options.version ?? '1',
    ...(options.description === undefined ? {} : { description: options.description }),
    params, components, steps,
    ...(options.triggers === undefined ? {} : { triggers: options.triggers }),
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
  };
  return validatePipeline(JSON.parse(JSON.stringify(ir)), `'${name}' (built with the SDK)`);
}

/** The IR definition of a component object: only the fields its kind has. */
function definition(c: Component, baseUrl: string | undefined): ComponentDef {
  const x = c as Component & Partial<{ module: string; export: string; command: string[]; env: Record<string, string>; workdir: string; image: string }>;
  const base = {
    name: c.name, version: c.version, ...(c.description === undefined ? {} : { description: c.description }),
    inputs: JSON.parse(JSON.stringify(c.inputs)) as ComponentDef['inputs'], outputs: JSON.parse(JSON.stringify(c.outputs)) as ComponentDef['outputs'],
  };
  if (c.kind === 'typescript') return { ...base, kind: 'typescript', module: modulePath(x.module!, baseUrl), export: x.export! };
  if (c.kind === 'command') {
    return {
      ...base, kind: 'command', command: [...x.command!],
      ...(x.env === undefined ? {} : { env: { ...x.env } }),
      ...(x.workdir === undefined ? {} : { workdir: x.workdir }),
      ...(x.image === undefined ? {} : { image: x.image }),
    };
  }
  return { ...base, kind: 'builtin' };
}

/** A `file:` module URL relative to the pipeline file's folder (`./components/prep.ts`), when that is known. */
function modulePath(module: string, baseUrl: string | undefined): string {
  if (!baseUrl || !module.startsWith('file:') || !baseUrl.startsWith('file:')) return module;
  const rel = relative(dirname(fileURLToPath(baseUrl)), fileURLToPath(module)).split(sep).join('/');
  return rel.startsWith('.') ? rel : `./${rel}`;
}
