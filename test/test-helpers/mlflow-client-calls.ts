/**
 * The wire of the MLflow 2.12 Python client, rebuilt from its documented behaviour so the replay
 * test can speak it without Python: how a request is encoded (`call_endpoint` in
 * `mlflow/utils/rest_utils.py`), the headers `requests` adds, and how strictly the client reads a
 * response (protobuf's `ParseDict` with unknown fields ignored, then the entity's `from_proto`).
 *
 * - GET: the request message, as JSON, becomes `requests`' `params`: `urlencode(doseq=True)`, so a
 *   repeated field is a repeated key, a space is `+`, every byte outside `A-Za-z0-9_.-~` is
 *   `%XX`, numbers are their decimal text and booleans are Python's `True` / `False`.
 * - Every other method (DELETE too): the message as a JSON body, `Content-Type: application/json`.
 * - The message JSON is `message_to_json`: proto field names, unset fields left out, int64 fields
 *   as JSON numbers, enums by name, doubles that JSON cannot hold as "NaN" / "Infinity".
 * - A response other than 200 raises `RestException(error_code, message)` if its body is a JSON
 *   object; a 200 whose body is not a JSON object raises too (for `/api/2.0` endpoints).
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { gunzipSync, inflateSync } from 'node:zlib';

export const CLIENT_VERSION = '2.12.2';

/** What `requests.Session` plus `resolve_request_headers()` put on every request. */
export const CLIENT_HEADERS: Readonly<Record<string, string>> = {
  'User-Agent': `mlflow-python-client/${CLIENT_VERSION}`,
  'Accept-Encoding': 'gzip, deflate',
  Accept: '*/*',
  Connection: 'keep-alive',
};

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
type Json = null | boolean | number | string | Json[] | { [k: string]: Json | undefined };

/** Python's `urllib.parse.quote_plus`: UTF-8 bytes, `A-Za-z0-9_.-~` kept, space as `+`. */
export function quotePlus(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9_.~-]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function pyStr(v: Json): string {
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'string') return v;
  throw new Error(`a GET parameter cannot hold ${JSON.stringify(v)}`);
}

/** `urllib.parse.urlencode(params, doseq=True)`, as `requests` encodes `params=`. */
export function pyUrlencode(params: Record<string, Json | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue; // an unset field is not in the message
    for (const item of Array.isArray(v) ? v : [v]) parts.push(`${quotePlus(k)}=${quotePlus(pyStr(item))}`);
  }
  return parts.join('&');
}

/** `json.dumps(obj)` as `requests` sends `json=`: `", "` and `": "` separators, non-ASCII escaped. */
export function pyJsonDumps(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map(pyJsonDumps).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${pyJsonDumps(k)}: ${pyJsonDumps(x as Json)}`).join(', ')}}`;
  if (typeof v === 'string') return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return JSON.stringify(v);
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  // The replay asserts on arbitrary response shapes; that is its point.
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One request over a real socket, the path sent byte for byte as given. */
export function send(port: number, method: HttpMethod, path: string, body: Buffer | undefined, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { Host: `127.0.0.1:${port}`, ...CLIENT_HEADERS, ...headers };
    // `requests` streams a file body: Content-Length when the file has a size, chunked when it is empty.
    if (body !== undefined && h['Transfer-Encoding'] === undefined) h['Content-Length'] = String(body.length);
    const req = request({ host: '127.0.0.1', port, method, path, headers: h }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        let buf = Buffer.concat(chunks);
        // `requests` undoes a compressed response before the client sees it.
        const enc = res.headers['content-encoding'];
        if (enc === 'gzip') buf = gunzipSync(buf);
        else if (enc === 'deflate') buf = inflateSync(buf);
        const text = buf.toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, text, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined && body.length) req.write(body);
    req.end();
  });
}

export interface RecordedCall {
  /** The client API that made the request, e.g. `MlflowClient.get_run`. */
  api: string;
  method: HttpMethod;
  path: string;
  status: number;
}

/**
 * A stand-in for the client's REST layer. Every request is recorded under the client API that
 * made it, so the test can say which calls it covered.
 */
export class ReplayClient {
  readonly calls: RecordedCall[] = [];

  constructor(readonly port: number) {}

  /** `call_endpoint(host_creds, endpoint, method, json_body, response_proto)`. */
  async endpoint(api: string, method: Exclude<HttpMethod, 'PUT'>, endpoint: string, message: Record<string, Json | undefined>): Promise<Reply> {
    const path = `/api/2.0${endpoint}`;
    if (method === 'GET') {
      const q = pyUrlencode(message);
      return this.raw(api, 'GET', q ? `${path}?${q}` : path);
    }
    return this.raw(api, method, path, Buffer.from(pyJsonDumps(message)), { 'Content-Type': 'application/json' });
  }

  async raw(api: string, method: HttpMethod, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Reply> {
    const res = await send(this.port, method, path, body, headers);
    this.calls.push({ api, method, path, status: res.status });
    return res;
  }

  /** The distinct client APIs replayed. */
  apis(): string[] {
    return [...new Set(this.calls.map((c) => c.api))].sort();
  }
}

/** `verify_rest_response` on success: status 200 and a JSON object body. */
export function expectOk(res: Reply, what: string): void {
  assert.equal(res.status, 200, `${what}: expected 200, got ${res.status} ${res.text.slice(0, 500)}`);
  assert.ok(res.json !== null && typeof res.json === 'object' && !Array.isArray(res.json), `${what}: the body is not a JSON object: ${res.text.slice(0, 200)}`);
}

/** `RestException`: a non-200 status with a JSON object naming the `error_code` the client matches on. */
export function expectRestError(res: Reply, code: string, what: string, status?: number): void {
  assert.notEqual(res.status, 200, `${what}: expected ${code}, got 200 ${res.text.slice(0, 300)}`);
  if (status !== undefined) assert.equal(res.status, status, `${what}: expected HTTP ${status}, got ${res.status} ${res.text.slice(0, 300)}`);
  assert.ok(res.json && typeof res.json === 'object', `${what}: error body is not JSON: ${res.text.slice(0, 200)}`);
  assert.equal(res.json.error_code, code, `${what}: ${res.text.slice(0, 300)}`);
  assert.equal(typeof res.json.message, 'string', `${what}: error without a message`);
}

// ---- The protobuf messages the client parses responses into (service.proto, model_registry.proto).

type Scalar = 'string' | 'int64' | 'int32' | 'double' | 'bool';
type FieldType = Scalar | { enum: readonly string[] } | MessageSchema;
interface Field { type: FieldType; repeated?: boolean }
export interface MessageSchema { name: string; fields: Record<string, Field> }

const msg = (name: string, fields: Record<string, FieldType | Field>): MessageSchema => ({
  name,
  fields: Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, typeof f === 'object' && 'type' in f ? f : { type: f }])),
});
const rep = (type: FieldType): Field => ({ type, repeated: true });
const KEY_VALUE = (name: string) => msg(name, { key: 'string', value: 'string' });

export const RUN_STATUS = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'] as const;
export const MODEL_VERSION_STATUS = ['PENDING_REGISTRATION', 'FAILED_REGISTRATION', 'READY'] as const;

export const Experiment = msg('Experiment', {
  experiment_id: 'string', name: 'string', artifact_location: 'string', lifecycle_stage: 'string',
  last_update_time: 'int64', creation_time: 'int64', tags: rep(KEY_VALUE('ExperimentTag')),
});
export const Metric = msg('Metric', { key: 'string', value: 'double', timestamp: 'int64', step: 'int64' });
export const RunInfo = msg('RunInfo', {
  run_id: 'string', run_uuid: 'string', run_name: 'string', experiment_id: 'string', user_id: 'string',
  status: { enum: RUN_STATUS }, start_time: 'int64', end_time: 'int64', artifact_uri: 'string', lifecycle_stage: 'string',
});
const Dataset = msg('Dataset', { name: 'string', digest: 'string', source_type: 'string', source: 'string', schema: 'string', profile: 'string' });
const DatasetInput = msg('DatasetInput', { tags: rep(KEY_VALUE('InputTag')), dataset: Dataset });
export const Run = msg('Run', {
  info: RunInfo,
  data: msg('RunData', { metrics: rep(Metric), params: rep(KEY_VALUE('Param')), tags: rep(KEY_VALUE('RunTag')) }),
  inputs: msg('RunInputs', { dataset_inputs: rep(DatasetInput) }),
});
export const FileInfo = msg('FileInfo', { path: 'string', is_dir: 'bool', file_size: 'int64' });
export const ModelVersion = msg('ModelVersion', {
  name: 'string', version: 'string', creation_timestamp: 'int64', last_updated_timestamp: 'int64', user_id: 'string',
  current_stage: 'string', description: 'string', source: 'string', run_id: 'string', status: { enum: MODEL_VERSION_STATUS },
  status_message: 'string', tags: rep(KEY_VALUE('ModelVersionTag')), run_link: 'string', aliases: rep('string'),
});
export const RegisteredModel = msg('RegisteredModel', {
  name: 'string', creation_timestamp: 'int64', last_updated_timestamp: 'int64', user_id: 'string', description: 'string',
  latest_versions: rep(ModelVersion), tags: rep(KEY_VALUE('RegisteredModelTag')),
  aliases: rep(msg('RegisteredModelAlias', { alias: 'string', version: 'string' })),
});

/** Response messages: what `api.Response()` holds. */
export const Responses = {
  CreateExperiment: msg('CreateExperiment.Response', { experiment_id: 'string' }),
  GetExperiment: msg('GetExperiment.Response', { experiment: Experiment }),
  SearchExperiments: msg('SearchExperiments.Response', { experiments: rep(Experiment), next_page_token: 'string' }),
  Empty: msg('Empty', {}),
  CreateRun: msg('CreateRun.Response', { run: Run }),
  GetRun: msg('GetRun.Response', { run: Run }),
  UpdateRun: msg('UpdateRun.Response', { run_info: RunInfo }),
  SearchRuns: msg('SearchRuns.Response', { runs: rep(Run), next_page_token: 'string' }),
  GetMetricHistory: msg('GetMetricHistory.Response', { metrics: rep(Metric), next_page_token: 'string' }),
  ListArtifacts: msg('ListArtifacts.Response', { files: rep(FileInfo) }),
  RegisteredModel: msg('RegisteredModel.Response', { registered_model: RegisteredModel }),
  SearchRegisteredModels: msg('SearchRegisteredModels.Response', { registered_models: rep(RegisteredModel), next_page_token: 'string' }),
  ModelVersion: msg('ModelVersion.Response', { model_version: ModelVersion }),
  ModelVersions: msg('ModelVersions.Response', { model_versions: rep(ModelVersion) }),
  SearchModelVersions: msg('SearchModelVersions.Response', { model_versions: rep(ModelVersion), next_page_token: 'string' }),
  GetModelVersionDownloadUri: msg('GetModelVersionDownloadUri.Response', { artifact_uri: 'string' }),
} as const;

const INT_TEXT = /^-?\d+$/;

/**
 * What `ParseDict(js, message, ignore_unknown_fields=True)` accepts: unknown fields are skipped,
 * `null` is "unset", and every known field must have its proto JSON type — a number where a string
 * field is expected is a parse error in the client.
 */
export function checkMessage(value: unknown, schema: MessageSchema, at = schema.name): void {
  assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), `${at}: expected a JSON object for ${schema.name}, got ${JSON.stringify(value)}`);
  for (const [name, field] of Object.entries(schema.fields)) {
    const v = (value as Record<string, unknown>)[name];
    if (v === undefined || v === null) continue;
    if (field.repeated) {
      assert.ok(Array.isArray(v), `${at}.${name}: a repeated field must be a JSON array, got ${JSON.stringify(v)}`);
      v.forEach((x, i) => checkValue(x, field.type, `${at}.${name}[${i}]`));
    } else {
      checkValue(v, field.type, `${at}.${name}`);
    }
  }
}

function checkValue(v: unknown, type: FieldType, at: string): void {
  if (typeof type === 'object') {
    if ('enum' in type) {
      const ok = (typeof v === 'string' && type.enum.includes(v)) || (typeof v === 'number' && Number.isInteger(v));
      assert.ok(ok, `${at}: ${JSON.stringify(v)} is not one of ${type.enum.join(', ')}`);
      return;
    }
    checkMessage(v, type, at);
    return;
  }
  switch (type) {
    case 'string':
      assert.equal(typeof v, 'string', `${at}: a string field holds ${JSON.stringify(v)}`);
      return;
    case 'int64':
    case 'int32':
      assert.ok((typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && INT_TEXT.test(v)), `${at}: an ${type} field holds ${JSON.stringify(v)}`);
      return;
    case 'double':
      assert.ok(typeof v === 'number' || v === 'NaN' || v === 'Infinity' || v === '-Infinity', `${at}: a double field holds ${JSON.stringify(v)}`);
      return;
    case 'bool':
      assert.equal(typeof v, 'boolean', `${at}: a bool field holds ${JSON.stringify(v)}`);
  }
}

/** A 200 whose body parses into `schema`; returns the body. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function parsed(res: Reply, schema: MessageSchema, what: string): any {
  expectOk(res, what);
  checkMessage(res.json, schema, what);
  return res.json;
}

/** `mimetypes.guess_type(name)[0] or "application/octet-stream"`, for the files the replay uploads. */
export function guessMimeType(file: string): string {
  const ext = file.includes('.') ? file.slice(file.lastIndexOf('.')).toLowerCase() : '';
  const known: Record<string, string> = { '.txt': 'text/plain', '.json': 'application/json', '.yaml': 'application/x-yaml', '.png': 'image/png', '.html': 'text/html' };
  return known[ext] ?? 'application/octet-stream';
}
