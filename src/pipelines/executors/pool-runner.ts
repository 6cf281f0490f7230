/**
 * Runs inside a warm worker of the pool (`worker-pool.ts`): waits for jobs and calls one component
 * per job, one at a time, reporting to the executor as the one-step runner does. After each step
 * it tells the executor whether the thread is still fit for another step:
 *
 * - before a step, `process.env` is set to exactly the executor's environment of that moment and
 *   `process.exitCode` is cleared, so neither leaks from one step into the next;
 * - after it, the thread is unfit — and is discarded — when the step changed a global (a property
 *   of `globalThis`, of `process` or of a built-in constructor or prototype), added or removed a
 *   `process` listener, left a handle open (a timer, a socket, a pending file operation), replaced
 *   `process.stdout`/`stderr.write`, or its module failed to load;
 * - console output is sent to the executor as messages, in order with the step's other messages,
 *   so each step's output reaches its own log and nothing a step wrote reaches the next one's;
 * - every code file the thread loads is fingerprinted before it is read (`module-files.ts`), so the
 *   executor can tell when a cached module no longer matches its file.
 *
 * Not reset: the state a loaded module keeps in its own variables (the module cache is the point
 * of a warm worker), and mutations deep inside objects reachable from globals.
 */
import { createRequire, register } from 'node:module';
import { MessageChannel, parentPort } from 'node:worker_threads';
import { callComponent, type RunnerJob, type RunnerMessage } from './component-call.js';
import { isTrackedModule, moduleFingerprint } from './module-files.js';

export type PoolJob = { t: 'job'; job: RunnerJob; env: Record<string, string> };

export type PoolMessage =
  | RunnerMessage
  | { t: 'ready' }
  | { t: 'out'; fd: 1 | 2; data: string | Uint8Array }
  /** The step is over: whether this thread may take another, and the code files it loaded since the last report. */
  | { t: 'idle'; reusable: boolean; reason?: string; files: [path: string, fingerprint: string][] };

const port = parentPort!;
const post = (m: PoolMessage) => port.postMessage(m);

// ---- code files, fingerprinted before they are read ----

const files = new Map<string, string>();
const reported = new Set<string>();
const record = (path: string, fp: string | undefined) => {
  if (fp && !files.has(path) && isTrackedModule(path)) files.set(path, fp);
};

const HOOKS = `
import { fileURLToPath } from 'node:url';
import { isTrackedModule, moduleFingerprint } from ${JSON.stringify(new URL(`./module-files${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href)};
let port;
export function initialize(data) {
  port = data.port;
  port.on('message', (m) => port.postMessage({ synced: m }));
  port.unref();
}
export async function load(url, context, next) {
  let path;
  try { path = url.startsWith('file:') ? fileURLToPath(url) : undefined; } catch { /* not a local file */ }
  if (path && isTrackedModule(path)) port.postMessage({ path, fp: moduleFingerprint(path) });
  return next(url, context);
}`;

const hooks = new MessageChannel();
let synced: (() => void) | undefined;
hooks.port1.on('message', (m: { path?: string; fp?: string }) => {
  if (m.path) record(m.path, m.fp);
  else synced?.();
});
hooks.port1.unref();
register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, { data: { port: hooks.port2 }, transferList: [hooks.port2] });

/**
 * Resolves true once every file the hooks saw load has been recorded (their messages come first on
 * the port); false if the hooks thread does not answer within a second.
 */
const syncHooks = () => new Promise<boolean>((resolve) => {
  const timer = setTimeout(() => resolve(false), 1000);
  synced = () => {
    clearTimeout(timer);
    resolve(true);
  };
  hooks.port1.postMessage(0);
});

// CommonJS modules (`require`) do not pass through the hooks above: fingerprint them as they load.
const Module = createRequire(import.meta.url)('node:module') as { _extensions: Record<string, (this: unknown, m: unknown, filename: string) => unknown> };
for (const [ext, load] of Object.entries(Module._extensions)) {
  Module._extensions[ext] = function (this: unknown, m: unknown, filename: string) {
    record(filename, moduleFingerprint(filename));
    return load.call(this, m, filename);
  };
}

// ---- console output, as messages ----

type Write = NodeJS.WriteStream['write'];
function capture(stream: NodeJS.WriteStream, fd: 1 | 2): Write {
  const write = function (chunk: string | Uint8Array, encoding?: BufferEncoding | ((e?: Error | null) => void), cb?: (e?: Error | null) => void): boolean {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    const data = typeof chunk === 'string' && encoding && encoding !== 'utf8' && encoding !== 'utf-8' ? Buffer.from(chunk, encoding) : chunk;
    if (data.length) post({ t: 'out', fd, data });
    if (cb) process.nextTick(cb);
    return true;
  } as Write;
  stream.write = write;
  return write;
}
const writes = [capture(process.stdout, 1), capture(process.stderr, 2)] as const;

// ---- globals ----

// Node defines many globals lazily, replacing a getter with the value on first use: use them all
// now, so that a step that merely uses `fetch` is not taken for one that changed it.
for (const key of Reflect.ownKeys(globalThis)) {
  try {
    void (globalThis as Record<PropertyKey, unknown>)[key];
  } catch {
    /* a getter that throws: it stays a getter */
  }
}

const WATCHED: [string, object][] = [
  ['globalThis', globalThis], ['process', process], ['Buffer', Buffer], ['Buffer.prototype', Buffer.prototype as object],
  ['TypedArray.prototype', Object.getPrototypeOf(Uint8Array.prototype) as object],
  ...([Object, Function, Array, String, Number, Boolean, Symbol, BigInt, Promise, Map, Set, WeakMap, WeakSet, RegExp, Date, Error, ArrayBuffer] as const)
    .flatMap((c): [string, object][] => [[c.name, c], [`${c.name}.prototype`, c.prototype as object]]),
  ['JSON', JSON], ['Math', Math], ['Reflect', Reflect],
];

/** Per watched object: its prototype, extensibility and own properties (value, or getter and setter). */
function globalsSnapshot(): unknown[][] {
  return WATCHED.map(([, o]) => {
    const row: unknown[] = [Object.getPrototypeOf(o), Object.isExtensible(o)];
    for (const key of Reflect.ownKeys(o)) {
      // The key is one of o's own, so it has a descriptor; its accessors are compared, never called.
      const d: { value?: unknown; get?: unknown; set?: unknown; writable?: boolean; configurable?: boolean } = Object.getOwnPropertyDescriptor(o, key)!;
      row.push(key, 'value' in d ? d.value : d.get, d.set, d.writable, d.configurable);
    }
    return row;
  });
}

const same = (a: unknown[], b: unknown[]) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

/** What changed between two snapshots, named (`a global changed (Array.prototype.flat)`), or undefined. */
function globalsChange(before: unknown[][], after: unknown[][]): string | undefined {
  for (let i = 0; i < WATCHED.length; i++) {
    const [a, b] = [before[i]!, after[i]!];
    if (same(a, b)) continue;
    // A row is [prototype, extensible, then per property: key, value or getter, setter, writable, configurable].
    const props = (row: unknown[]) => new Map(Array.from({ length: (row.length - 2) / 5 }, (_, j) => [row[2 + 5 * j] as PropertyKey, row.slice(3 + 5 * j, 7 + 5 * j)]));
    const [pa, pb] = [props(a), props(b)];
    const key = [...new Set([...pa.keys(), ...pb.keys()])].find((k) => !pa.has(k) || !pb.has(k) || !same(pa.get(k)!, pb.get(k)!));
    return `a global changed (${WATCHED[i]![0]}${key === undefined ? ': its prototype or extensibility' : `.${String(key)}`})`;
  }
  return undefined;
}

const listeners = () => process.eventNames().map((e) => `${String(e)}:${process.listenerCount(e)}`).sort().join(',');

const baseGlobals = globalsSnapshot();
const baseListeners = listeners();

// ---- jobs ----

function resetEnv(env: Record<string, string>): void {
  for (const k of Object.keys(process.env)) if (!Object.hasOwn(env, k)) delete process.env[k];
  for (const [k, v] of Object.entries(env)) if (process.env[k] !== v) process.env[k] = v;
}

/** Resources (timers, sockets, file requests…) active now that were not in `before`. */
function extraResources(before: string[]): string[] {
  const left = [...before];
  return process.getActiveResourcesInfo().filter((r) => {
    const i = left.indexOf(r);
    if (i < 0) return true;
    left.splice(i, 1);
    return false;
  });
}

/** Requests that finish by themselves: file operations, handles being closed. */
const SETTLING = /^(FSReq|CloseReq|FileHandleCloseReq)/;

/**
 * What the step left running, once file operations still in flight (tsx writing its cache, a write
 * the component did not await) have had up to FS_SETTLE_MS to finish.
 */
async function leftOpen(before: string[]): Promise<string | undefined> {
  for (let waited = 0; ; waited += 2) {
    const extra = extraResources(before);
    if (!extra.length) return undefined;
    if (waited >= FS_SETTLE_MS || !extra.every((r) => SETTLING.test(r))) return `handles were left open (${extra.join(', ')})`;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
const FS_SETTLE_MS = 200;

async function serve(m: PoolJob): Promise<void> {
  resetEnv(m.env);
  process.exitCode = undefined;
  const resources = process.getActiveResourcesInfo();
  const failed = await callComponent(m.job, (r) => (post(r), Promise.resolve()));
  const tracked = await syncHooks();
  let reason: string | undefined;
  if (failed === 'load') reason = 'the component module failed to load';
  else if (!tracked) reason = 'the module hooks did not answer';
  else if (process.stdout.write !== writes[0] || process.stderr.write !== writes[1]) reason = 'process.stdout or process.stderr was replaced';
  else if (listeners() !== baseListeners) reason = 'process listeners were added or removed';
  else reason = (await leftOpen(resources)) ?? globalsChange(baseGlobals, globalsSnapshot());
  const fresh = [...files].filter(([p]) => !reported.has(p));
  for (const [p] of fresh) reported.add(p);
  post({ t: 'idle', reusable: reason === undefined, reason, files: fresh });
}

port.on('message', (m: PoolJob) => void serve(m));
post({ t: 'ready' });
