/**
 * The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`) in front of an
 * {@link InferenceService}: health, metadata and ModelInfer with typed `contents` or
 * `raw_input_contents` (little-endian; outputs come back raw when the inputs came raw). Tensors are
 * turned into records by the same code as REST (oip/tensors.ts). The `authorization` metadata is
 * the caller's credential; the request id is the `x-request-id` metadata, else the request's `id`,
 * else generated, and is returned as `x-request-id` with `x-model-version` and `x-route`. Refusals
 * map to gRPC statuses as KServe maps them; anything unexpected is logged and answered INTERNAL
 * "Internal server error".
 */
import { newRequestId } from '../../core/ids.js';
import * as grpc from '@grpc/grpc-js';
import { TrellisError } from '../../core/errors.js';
import { outputNames, predictionOutputs, selectOutputs, type Parameters } from '../oip/codec.js';
import { plainRawRecords, type RawInput } from '../oip/plain.js';
import { describeValue, invalid } from '../oip/tabular.js';
import {
  checkElements, checkShape, decodeRawTensor, elementCount, encodeRawTensor, isDatatype, recordsFromTensors,
  type TensorHeader, type TensorInput,
} from '../oip/tensors.js';
import { ServingError, type Datatype, type InferenceService, type ServingErrorKind } from '../types.js';
import { inferencePackage, type WireContents, type WireInferRequest, type WireParameter } from './inference-proto.js';

export interface GrpcServerOptions {
  service: InferenceService;
  host: string;
  /** 0: any free port. */
  port: number;
  /** The largest message received or sent; a larger one is refused RESOURCE_EXHAUSTED. */
  maxMessageBytes: number;
  /** Rows per request (default 10,000); more is refused RESOURCE_EXHAUSTED. */
  maxBatch?: number;
  /** How long close() lets calls in flight finish before cutting them (default 5 s). */
  shutdownGraceMs?: number;
  /** Where unexpected errors are logged (pino-shaped); default: one JSON line on stderr. */
  log?: { error(obj: Record<string, unknown>, msg: string): void };
  /** Told of each ModelInfer call refused before a model answered: the endpoint it named and the status's name. */
  onRefused?: (endpoint: string | undefined, code: string) => void;
}

export interface GrpcServer {
  port: number;
  /** Stops taking calls, lets those in flight finish within the grace, then cuts the rest. */
  close(): Promise<void>;
}

export const GRPC_STATUS: Readonly<Record<ServingErrorKind, grpc.status>> = {
  invalid: grpc.status.INVALID_ARGUMENT, not_found: grpc.status.NOT_FOUND, unavailable: grpc.status.UNAVAILABLE,
  unauthenticated: grpc.status.UNAUTHENTICATED, forbidden: grpc.status.PERMISSION_DENIED, too_large: grpc.status.RESOURCE_EXHAUSTED,
  unimplemented: grpc.status.UNIMPLEMENTED, internal: grpc.status.INTERNAL,
};

const CONTENTS_FIELD: Readonly<Record<Datatype, keyof WireContents | undefined>> = {
  BOOL: 'bool_contents', INT8: 'int_contents', INT16: 'int_contents', INT32: 'int_contents', INT64: 'int64_contents',
  UINT8: 'uint_contents', UINT16: 'uint_contents', UINT32: 'uint_contents', UINT64: 'uint64_contents',
  FP32: 'fp32_contents', FP64: 'fp64_contents', BYTES: 'bytes_contents', FP16: undefined, BF16: undefined,
};

const MAX_REQUEST_ID = 128;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function defaultLog(obj: Record<string, unknown>, msg: string): void {
  process.stderr.write(`${JSON.stringify({ level: 'error', msg, ...obj })}\n`);
}

/** A 64-bit integer as the loader gives it (decimal text), as a number when a double holds it exactly. */
function int64(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw invalid(`${what} is ${text}, beyond ±2^53`);
  return n;
}

function parameterValue(p: WireParameter, what: string): string | number | boolean {
  switch (p.parameter_choice) {
    case 'bool_param': return p.bool_param!;
    case 'string_param': return p.string_param!;
    case 'double_param': return p.double_param!;
    case 'int64_param': return int64(p.int64_param!, what);
    case 'uint64_param': return int64(p.uint64_param!, what);
    default: throw invalid(`${what} has no value`);
  }
}

function wireParameters(p: Record<string, WireParameter> | undefined, where: string): Parameters {
  return Object.fromEntries(Object.entries(p ?? {}).map(([k, v]) => [k, parameterValue(v, `${where} '${k}'`)]));
}

function contentType(p: Parameters, where: string): string | undefined {
  const v = p.content_type;
  if (v !== undefined && typeof v !== 'string') throw invalid(`${where} content_type must be a string, got ${describeValue(v)}`);
  return v;
}

function hasContents(c: WireContents | null | undefined): boolean {
  return !!c && Object.values(c).some((v) => Array.isArray(v) && v.length > 0);
}

/** The elements of a tensor's typed contents, from the field its datatype uses (and no other). */
function typedElements(t: TensorHeader, c: WireContents | null | undefined): unknown[] {
  const field = CONTENTS_FIELD[t.datatype];
  if (!field) throw invalid(`Input '${t.name}' is ${t.datatype}, which has no typed contents: send it in raw_input_contents`);
  const other = Object.entries(c ?? {}).find(([k, v]) => k !== field && Array.isArray(v) && v.length > 0);
  if (other) throw invalid(`Input '${t.name}' is ${t.datatype}: its values go in contents.${field}, not contents.${other[0]}`);
  const values: unknown[] = c?.[field] ?? [];
  const count = elementCount(t.shape);
  if (values.length !== count) throw invalid(`Input '${t.name}' has ${values.length} values in contents.${field}; its shape ${JSON.stringify(t.shape)} needs ${count}`);
  const plain = values.map((v, i) => {
    if (Buffer.isBuffer(v)) {
      try {
        return utf8.decode(v);
      } catch {
        throw invalid(`Input '${t.name}' (BYTES) element ${i} is not UTF-8 text`);
      }
    }
    return typeof v === 'string' ? int64(v, `Input '${t.name}' (${t.datatype}) element ${i}`) : v;
  });
  return checkElements(t, plain);
}

const isEmpty = (o: object | null | undefined): boolean => {
  for (const _ in o) return false;
  return true;
};

/**
 * The request's tensors for the one-pass raw decoder, when it sends raw contents, one per input,
 * and nothing beside them (no parameters, no typed contents); undefined for any other request.
 */
function plainRaw(req: WireInferRequest): RawInput[] | undefined {
  const raw = req.raw_input_contents;
  const inputs = req.inputs;
  if (!raw?.length || !inputs || inputs.length !== raw.length || !isEmpty(req.parameters)) return undefined;
  const out = new Array<RawInput>(inputs.length);
  for (let k = 0; k < inputs.length; k++) {
    const w = inputs[k]!;
    const s = w.shape;
    if (!w.name || !w.datatype || !s || s.length === 0 || s.length > 2 || !isEmpty(w.parameters) || hasContents(w.contents)) return undefined;
    out[k] = { name: w.name, datatype: w.datatype, shape: s.length === 1 ? [Number(s[0])] : [Number(s[0]), Number(s[1])] };
  }
  return out;
}

/** The request's tensors: raw contents (one per input, in order) or typed contents, never both. */
function wireTensors(req: WireInferRequest): TensorInput[] {
  const inputs = req.inputs ?? [];
  const raw = req.raw_input_contents ?? [];
  if (raw.length && raw.length !== inputs.length) throw invalid(`raw_input_contents has ${raw.length} entries for ${inputs.length} inputs; send one per input, in order`);
  return inputs.map((w, k): TensorInput => {
    const name = w.name ?? '';
    if (!name) throw invalid(`inputs[${k}] needs a name`);
    if (!isDatatype(w.datatype)) throw invalid(`Input '${name}' has datatype ${describeValue(w.datatype ?? '')}; use one of BOOL, INT8…INT64, UINT8…UINT64, FP16, BF16, FP32, FP64, BYTES`);
    const shape = checkShape(name, (w.shape ?? []).map(Number));
    const params = wireParameters(w.parameters, `Input '${name}' parameter`);
    const header: TensorHeader = { name, datatype: w.datatype, shape, contentType: contentType(params, `Input '${name}'`) };
    if (!raw.length) return { ...header, data: () => typedElements(header, w.contents) };
    if (hasContents(w.contents)) throw invalid(`Input '${name}' has typed contents and the request has raw_input_contents; send one or the other`);
    const bytes = raw[k]!;
    return { ...header, data: () => decodeRawTensor(header, bytes) };
  });
}

function peerAddress(peer: string): string {
  const m = /^(?:ipv[46]:)?\[?([^\]]*?)\]?:\d+$/.exec(peer);
  return m ? m[1]! : peer;
}

/** The status a refusal takes; INTERNAL for anything that is not the caller's fault. */
function statusOf(e: unknown): grpc.status {
  if (e instanceof ServingError && e.kind !== 'internal') return GRPC_STATUS[e.kind];
  // A model's refusal of its input (a TrellisError with a client status) is the caller's error.
  if (e instanceof TrellisError && e.httpStatus < 500) return grpc.status.INVALID_ARGUMENT;
  return grpc.status.INTERNAL;
}

function stringHeaders(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) if (typeof v === 'string' && k !== 'authorization') out[k] = v;
  return out;
}

function first(md: grpc.Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

/** Starts the gRPC inference service; resolves once it listens. */
export async function startGrpcServer(o: GrpcServerOptions): Promise<GrpcServer> {
  const { service } = o;
  const maxBatch = o.maxBatch ?? 10_000;
  const log = o.log ?? { error: defaultLog };
  const pkg = grpc.loadPackageDefinition(inferencePackage()) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
  const server = new grpc.Server({ 'grpc.max_receive_message_length': o.maxMessageBytes, 'grpc.max_send_message_length': o.maxMessageBytes });

  /** Runs a handler: its answer with response metadata, or its refusal as a status (with the request id). */
  function unary<Req, Res>(
    rpc: string,
    fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>, requestId: string) => Promise<{ response: Res; metadata?: Record<string, string> }>,
    idOf?: (req: Req) => string | undefined,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const given = first(call.metadata, 'x-request-id') ?? (idOf?.(call.request) || undefined);
      const requestId = given && given.length <= MAX_REQUEST_ID ? given : newRequestId();
      const md = new grpc.Metadata();
      md.set('x-request-id', requestId);
      const run = async () => {
        if (given !== undefined && given !== requestId) throw invalid(`The request id (x-request-id, else the request's id) must be 1 to ${MAX_REQUEST_ID} characters`);
        return fn(call.request, call, requestId);
      };
      run().then(({ response, metadata }) => {
        for (const [k, v] of Object.entries(metadata ?? {})) md.set(k, v);
        call.sendMetadata(md);
        callback(null, response);
      }, (e: unknown) => {
        callback({ ...toStatus(e, rpc, requestId), metadata: md });
      });
    };
  }

  function toStatus(e: unknown, rpc: string, requestId: string): { code: grpc.status; details: string } {
    const code = statusOf(e);
    if (code !== grpc.status.INTERNAL) return { code, details: (e as Error).message };
    log.error({ rpc, requestId, err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e) }, 'gRPC inference call failed');
    return { code: grpc.status.INTERNAL, details: 'Internal server error' };
  }

  const caller = (call: grpc.ServerUnaryCall<unknown, unknown>) => ({ authorization: first(call.metadata, 'authorization'), remoteAddress: peerAddress(call.getPeer()) });
  const modelName = (name: string | undefined) => {
    if (!name) throw invalid('The model name is required');
    return name;
  };

  server.addService(pkg.inference.GRPCInferenceService.service, {
    ServerLive: unary('ServerLive', async () => ({ response: { live: service.live() } })),
    ServerReady: unary('ServerReady', async () => ({ response: { ready: service.ready() } })),
    ServerMetadata: unary('ServerMetadata', async () => ({ response: service.serverMetadata() })),
    ModelReady: unary<{ name?: string; version?: string }, { ready: boolean }>('ModelReady', async (req, call) => {
      const name = modelName(req.name);
      await service.authorize(name, caller(call));
      return { response: { ready: service.model(name, req.version || undefined).ready } };
    }),
    ModelMetadata: unary<{ name?: string; version?: string }, unknown>('ModelMetadata', async (req, call) => {
      const name = modelName(req.name);
      await service.authorize(name, caller(call));
      const m = service.model(name, req.version || undefined).metadata;
      return { response: { name: m.name, versions: m.versions, platform: m.platform, inputs: m.inputs, outputs: m.outputs, properties: m.properties ?? {} } };
    }),
    ModelInfer: unary<WireInferRequest, unknown>('ModelInfer', async (req, call, requestId) => {
      let asked = false;
      try {
        return await modelInfer(req, call, requestId, () => { asked = true; });
      } catch (e) {
        // A model's own failure is counted with its answer.
        if (!asked) o.onRefused?.(req.model_name || undefined, grpc.status[statusOf(e)]);
        throw e;
      }
    }, (req) => req.id),
  });

  async function modelInfer(req: WireInferRequest, call: grpc.ServerUnaryCall<WireInferRequest, unknown>, requestId: string, asking: () => void) {
      const name = modelName(req.model_name);
      const version = req.model_version || undefined;
      const who = caller(call);
      // Credentials first: a caller without them learns nothing of the model's inputs.
      await service.authorize(name, who);
      const model = service.model(name, version);
      const raw = (req.raw_input_contents?.length ?? 0) > 0;
      const plain = plainRaw(req);
      const records = (plain && plainRawRecords(plain, req.raw_input_contents!, model.signature, maxBatch)) ?? (() => {
        const parameters = wireParameters(req.parameters, 'Request parameter');
        return recordsFromTensors(wireTensors(req), { signature: model.signature, maxBatch, contentType: contentType(parameters, 'The request') });
      })();
      const requested = req.outputs?.length ? req.outputs.map((r, k) => {
        if (!r.name) throw invalid(`outputs[${k}] needs a name`);
        return { name: r.name, binary: false };
      }) : undefined;
      if (requested && new Set(requested.map((r) => r.name)).size !== requested.length) throw invalid('An output is requested twice');
      const unknown = requested?.find((r) => !outputNames(model.task).includes(r.name));
      if (unknown) throw invalid(`Unknown output '${unknown.name}'; the model gives ${outputNames(model.task).join(', ')}`);
      asking();
      const result = await service.infer({
        endpoint: name, ...(version !== undefined ? { version } : {}), records, requestId,
        ...who, headers: stringHeaders(call.metadata),
      });
      const outputs = selectOutputs(predictionOutputs(result), requested, false).map(({ tensor }) => tensor);
      return {
        response: {
          model_name: result.modelName, model_version: result.modelVersion, id: req.id ?? '',
          outputs: outputs.map((t) => ({
            name: t.name, datatype: t.datatype, shape: t.shape,
            parameters: Object.fromEntries(Object.entries(t.parameters ?? {}).map(([k, v]) => [k, { string_param: String(v) }])),
            ...(raw ? {} : { contents: t.datatype === 'FP64' ? { fp64_contents: t.data } : { bytes_contents: (t.data as string[]).map((s) => Buffer.from(s, 'utf8')) } }),
          })),
          raw_output_contents: raw ? outputs.map(encodeRawTensor) : [],
        },
        metadata: { 'x-model-version': result.modelVersion, 'x-route': result.route },
      };
  }

  const host = o.host.includes(':') && !o.host.startsWith('[') ? `[${o.host}]` : o.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${o.port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(new Error(`The gRPC server cannot listen on ${host}:${o.port}: ${err.message}`)) : resolve(p)));
  });
  const grace = o.shutdownGraceMs ?? 5000;
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, grace);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    }),
  };
}
