/**
 * The Open Inference Protocol v2 over REST, as pure functions: a request body (JSON, or JSON and
 * binary tensor data after `Inference-Header-Content-Length` bytes) decoded into records for the
 * model's signature, and predictions encoded as the `predict` and `proba` output tensors, JSON or
 * binary as the client asked. Also the request body's content encoding, bounded, and the tensor
 * metadata a model advertises. Refusals are ServingErrors ('invalid' or 'too_large') naming the
 * field and the problem.
 */
import { gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import type { ColumnType } from '../../data/table.js';
import type { Task } from '../../ml/model.js';
import { ServingError, type Datatype, type InferResult, type InputColumn, type TensorMeta } from '../types.js';
import { plainRecords } from './plain.js';
import { describeValue, invalid, isPlainObject, own } from './tabular.js';
import {
  checkShape, decodeRawTensor, encodeRawTensor, flattenJsonData, isDatatype, recordsFromTensors,
  type OutputTensor, type TensorInput,
} from './tensors.js';

export type { OutputTensor } from './tensors.js';

export type Parameters = Record<string, string | number | boolean>;

export interface RequestedOutput {
  name: string;
  /** Return this output as binary data (its `binary_data` parameter, else the request's `binary_data_output`). */
  binary: boolean;
}

export interface DecodedInferRequest {
  id?: string;
  parameters?: Parameters;
  records: Record<string, unknown>[];
  /** The outputs the client asked for; undefined: all of them. */
  outputs?: RequestedOutput[];
  /** The request's `binary_data_output`: every output as binary data. */
  binaryOutputs: boolean;
}

export interface DecodeOptions {
  /** The `Inference-Header-Content-Length` header: the JSON part's length; the rest is binary tensor data. */
  headerLength?: string;
  signature: InputColumn[];
  maxBatch: number;
  /** When given, requested outputs are checked against the task's before any inference. */
  task?: Task;
}

/**
 * The request body after its `Content-Encoding` (identity, gzip, x-gzip, deflate; a list is undone
 * last to first), never inflated beyond `maxBytes`: a bomb is refused as too_large, a corrupt
 * stream or an unknown encoding as invalid.
 */
export function decodeBody(raw: Buffer, contentEncoding: string | undefined, maxBytes: number): Buffer {
  const codings = (contentEncoding ?? '').split(',').map((c) => c.trim().toLowerCase()).filter((c) => c && c !== 'identity');
  const tooLarge = () => new ServingError('too_large', `The request body is larger than ${maxBytes} bytes${codings.length ? ' once decompressed' : ''}`);
  if (raw.length > maxBytes) throw tooLarge();
  let body = raw;
  for (const coding of codings.reverse()) {
    if (!['gzip', 'x-gzip', 'deflate'].includes(coding)) throw invalid(`Content-Encoding '${coding}' is not supported; use gzip, deflate or identity`);
    try {
      if (coding !== 'deflate') body = gunzipSync(body, { maxOutputLength: maxBytes });
      else {
        // HTTP's deflate is zlib-wrapped; some clients send the raw stream.
        try {
          body = inflateSync(body, { maxOutputLength: maxBytes });
        } catch (e) {
          if ((e as { code?: string }).code !== 'Z_DATA_ERROR') throw e;
          body = inflateRawSync(body, { maxOutputLength: maxBytes });
        }
      }
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
      throw invalid(`The request body is not valid ${coding} data (${(e as Error).message})`);
    }
  }
  return body;
}

function checkParameters(p: unknown, where: string): Parameters | undefined {
  if (p === undefined) return undefined;
  if (!isPlainObject(p)) throw invalid(`${where} must be an object, got ${describeValue(p)}`);
  for (const [k, v] of Object.entries(p)) {
    if (typeof v !== 'string' && typeof v !== 'boolean' && !(typeof v === 'number' && Number.isFinite(v))) {
      throw invalid(`${where}.${k} must be a string, a number or a boolean, got ${describeValue(v)}`);
    }
  }
  // Own entries copied into a fresh object: a `__proto__` key stays a plain key.
  return Object.fromEntries(Object.entries(p)) as Parameters;
}

function optionalString(p: Parameters | undefined, key: string, where: string): string | undefined {
  const v = p && own(p, key);
  if (v !== undefined && typeof v !== 'string') throw invalid(`${where}.${key} must be a string, got ${describeValue(v)}`);
  return v;
}

function optionalBoolean(p: Parameters | undefined, key: string, where: string): boolean | undefined {
  const v = p && own(p, key);
  if (v !== undefined && typeof v !== 'boolean') throw invalid(`${where}.${key} must be true or false, got ${describeValue(v)}`);
  return v;
}

function splitBody(body: Buffer, headerLength: string | undefined): { json: Buffer; binary?: Buffer } {
  if (headerLength === undefined) return { json: body };
  const h = /^\d{1,15}$/.test(headerLength.trim()) ? Number(headerLength.trim()) : Number.NaN;
  if (!(h > 0 && h <= body.length)) {
    throw invalid(`Inference-Header-Content-Length is '${headerLength}'; it must be the JSON part's length in bytes, between 1 and the body's ${body.length}`);
  }
  return { json: body.subarray(0, h), binary: body.subarray(h) };
}

/** Decodes an OIP inference request into records for the signature (see the file comment). */
export function decodeInferRequest(body: Buffer, opts: DecodeOptions): DecodedInferRequest {
  const { json, binary } = splitBody(body, opts.headerLength);
  return decodeInferText(json.toString('utf8'), opts, binary);
}

/** {@link decodeInferRequest} from the JSON text, with the binary tensor data after it when there is any. */
export function decodeInferText(text: string, opts: DecodeOptions, binary?: Buffer): DecodedInferRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalid(`The inference request is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(doc)) throw invalid(`The inference request must be a JSON object, got ${describeValue(doc)}`);
  const id = own(doc, 'id');
  if (id !== undefined && typeof id !== 'string') throw invalid(`'id' must be a string, got ${describeValue(id)}`);
  if (!binary) {
    // The usual request, one flat tensor per column, is decoded in one pass; anything else, and
    // every refusal, by the steps below.
    const plain = plainRecords(doc, opts.signature, opts.maxBatch);
    if (plain) return id !== undefined ? { id, records: plain, binaryOutputs: false } : { records: plain, binaryOutputs: false };
  }
  const parameters = checkParameters(own(doc, 'parameters'), 'parameters');
  const binaryOutputs = optionalBoolean(parameters, 'binary_data_output', 'parameters') ?? false;
  const inputs = own(doc, 'inputs');
  if (!Array.isArray(inputs) || inputs.length === 0) throw invalid(`'inputs' must be a non-empty array of tensors, got ${describeValue(inputs)}`);

  const outputsField = own(doc, 'outputs');
  const outputs = outputsField === undefined ? undefined : requestedOutputs(outputsField, binaryOutputs);
  if (outputs && opts.task) {
    const known = outputNames(opts.task);
    const unknown = outputs.find((r) => !known.includes(r.name));
    if (unknown) throw invalid(`Unknown output '${unknown.name}'; the model gives ${known.join(', ')}`);
  }

  let offset = 0;
  const tensors = inputs.map((raw, k): TensorInput => {
    if (!isPlainObject(raw)) throw invalid(`inputs[${k}] must be a tensor object, got ${describeValue(raw)}`);
    const name = own(raw, 'name');
    if (typeof name !== 'string' || name === '') throw invalid(`inputs[${k}] needs a 'name' (a non-empty string), got ${describeValue(name)}`);
    const datatype = own(raw, 'datatype');
    if (!isDatatype(datatype)) throw invalid(`Input '${name}' has datatype ${describeValue(datatype)}; use one of BOOL, INT8…INT64, UINT8…UINT64, FP16, BF16, FP32, FP64, BYTES`);
    const shape = checkShape(name, own(raw, 'shape'));
    const params = checkParameters(own(raw, 'parameters'), `Input '${name}' parameters`);
    const header = { name, datatype, shape, contentType: optionalString(params, 'content_type', `Input '${name}' parameters`) };
    const size = params && own(params, 'binary_data_size');
    const data = own(raw, 'data');
    if (size === undefined) {
      if (data === undefined) throw invalid(`Input '${name}' has no 'data' (nor binary_data_size)`);
      return { ...header, data: () => flattenJsonData(header, data) };
    }
    if (data !== undefined) throw invalid(`Input '${name}' has both 'data' and binary_data_size; send one`);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`Input '${name}' has binary_data_size ${describeValue(size)}; it must be a byte count`);
    if (!binary) throw invalid(`Input '${name}' has binary_data_size but the request has no Inference-Header-Content-Length header to say where the binary data starts`);
    if (offset + size > binary.length) throw invalid(`Input '${name}' claims ${size} bytes of binary data at offset ${offset}; the body holds only ${binary.length} after the JSON`);
    const bytes = binary.subarray(offset, offset + size);
    offset += size;
    return { ...header, data: () => decodeRawTensor(header, bytes) };
  });
  if (binary && offset !== binary.length) throw invalid(`The body has ${binary.length - offset} bytes of binary data after the JSON that no input's binary_data_size claims`);

  const records = recordsFromTensors(tensors, { signature: opts.signature, maxBatch: opts.maxBatch, contentType: optionalString(parameters, 'content_type', 'parameters') });
  const out: DecodedInferRequest = { records, binaryOutputs };
  if (id !== undefined) out.id = id;
  if (parameters) out.parameters = parameters;
  if (outputs) out.outputs = outputs;
  return out;
}

function requestedOutputs(outputs: unknown, binaryOutputs: boolean): RequestedOutput[] {
  if (!Array.isArray(outputs)) throw invalid(`'outputs' must be an array of {name, parameters?}, got ${describeValue(outputs)}`);
  const seen = new Set<string>();
  return outputs.map((o, k) => {
    if (!isPlainObject(o)) throw invalid(`outputs[${k}] must be an object with a 'name', got ${describeValue(o)}`);
    const name = own(o, 'name');
    if (typeof name !== 'string' || name === '') throw invalid(`outputs[${k}] needs a 'name' (a non-empty string), got ${describeValue(name)}`);
    if (seen.has(name)) throw invalid(`Output '${name}' is requested twice`);
    seen.add(name);
    const params = checkParameters(own(o, 'parameters'), `Output '${name}' parameters`);
    return { name, binary: optionalBoolean(params, 'binary_data', `Output '${name}' parameters`) ?? binaryOutputs };
  });
}

/** The output names a model of this task gives. */
export function outputNames(task: Task): string[] {
  return task === 'regression' ? ['predict'] : ['predict', 'proba'];
}

/**
 * The output tensors for predictions: `predict` (class labels as BYTES for classifiers, values as
 * FP64 for regression, shape [N]) and, for classifiers, `proba` (FP64 [N, classes], with
 * `parameters.classes` naming the columns, comma-separated).
 */
export function predictionOutputs(result: InferResult): OutputTensor[] {
  const p = result.predictions;
  const n = p.prediction.length;
  if (result.task === 'regression') return [{ name: 'predict', datatype: 'FP64', shape: [n], data: Array.from(p.prediction) }];
  const classes = p.classes ?? [];
  const labels = Array.from(p.prediction, (k) => classes[k] ?? String(k));
  const out: OutputTensor[] = [{ name: 'predict', datatype: 'BYTES', shape: [n], data: labels }];
  if (p.proba) out.push({ name: 'proba', datatype: 'FP64', shape: [n, classes.length || p.proba.length / Math.max(n, 1)], parameters: { classes: classes.join(',') }, data: Array.from(p.proba) });
  return out;
}

/**
 * Picks the outputs the client asked for (all when `requested` is undefined), refusing unknown
 * names, with whether each is to go as binary data.
 */
export function selectOutputs(all: OutputTensor[], requested: RequestedOutput[] | undefined, binaryOutputs: boolean): { tensor: OutputTensor; binary: boolean }[] {
  if (!requested) return all.map((tensor) => ({ tensor, binary: binaryOutputs }));
  return requested.map((r) => {
    const tensor = all.find((t) => t.name === r.name);
    if (!tensor) throw invalid(`Unknown output '${r.name}'; the model gives ${all.map((t) => t.name).join(', ')}`);
    return { tensor, binary: r.binary };
  });
}

export interface EncodeOptions {
  id?: string;
  outputs?: RequestedOutput[];
  binaryOutputs: boolean;
  parameters?: Parameters;
}

/**
 * The inference response body: JSON, then the binary outputs (when any) in order, whose JSON
 * length is `headerLength` (for the `Inference-Header-Content-Length` header).
 */
export function encodeInferResponse(result: InferResult, opts: EncodeOptions): { body: Buffer; headerLength?: number } {
  if (!opts.outputs && !opts.binaryOutputs && !opts.parameters) return { body: Buffer.from(inferResponseJson(result, opts.id), 'utf8') };
  const chosen = selectOutputs(predictionOutputs(result), opts.outputs, opts.binaryOutputs);
  const blobs: Buffer[] = [];
  const outputs = chosen.map(({ tensor, binary }) => {
    if (!binary) return tensor;
    const bytes = encodeRawTensor(tensor);
    blobs.push(bytes);
    const { data: _data, ...meta } = tensor;
    return { ...meta, parameters: { ...tensor.parameters, binary_data_size: bytes.length } };
  });
  const json = Buffer.from(JSON.stringify({
    model_name: result.modelName,
    model_version: result.modelVersion,
    ...(opts.id !== undefined ? { id: opts.id } : {}),
    ...(opts.parameters ? { parameters: opts.parameters } : {}),
    outputs,
  }), 'utf8');
  if (!blobs.length) return { body: json };
  return { body: Buffer.concat([json, ...blobs]), headerLength: json.length };
}

export const DATATYPE_OF: Readonly<Record<ColumnType, Datatype>> = { integer: 'INT64', float: 'FP64', boolean: 'BOOL', string: 'BYTES', datetime: 'BYTES' };

/** The tensors a model takes and gives, as model metadata lists them (-1: any batch size). */
export function tensorMetadata(signature: readonly InputColumn[], task: Task, classes?: readonly string[]): { inputs: TensorMeta[]; outputs: TensorMeta[] } {
  const inputs = signature.map((c): TensorMeta => ({ name: c.name, datatype: DATATYPE_OF[c.type], shape: [-1] }));
  const outputs: TensorMeta[] = [{ name: 'predict', datatype: task === 'regression' ? 'FP64' : 'BYTES', shape: [-1] }];
  if (task !== 'regression') outputs.push({ name: 'proba', datatype: 'FP64', shape: [-1, classes?.length ?? -1] });
  return { inputs, outputs };
}

const jsonNumber = (v: number) => (Number.isFinite(v) ? String(v) : 'null');

function jsonNumbers(a: Float64Array): string {
  let s = '';
  for (let i = 0; i < a.length; i++) s += (i ? ',' : '') + jsonNumber(a[i]!);
  return s;
}

/**
 * The JSON answer with every output, written directly: the same text as `JSON.stringify` of what
 * {@link predictionOutputs} gives, without building the tensors (numbers as JavaScript prints
 * them, a non-finite one as null; strings quoted by JSON.stringify).
 */
export function inferResponseJson(result: InferResult, id?: string): string {
  const p = result.predictions;
  const n = p.prediction.length;
  const head = `{"model_name":${JSON.stringify(result.modelName)},"model_version":${JSON.stringify(result.modelVersion)}${id !== undefined ? `,"id":${JSON.stringify(id)}` : ''},"outputs":[`;
  if (result.task === 'regression') return `${head}{"name":"predict","datatype":"FP64","shape":[${n}],"data":[${jsonNumbers(p.prediction)}]}]}`;
  const classes = p.classes ?? [];
  let labels = '';
  for (let i = 0; i < n; i++) {
    const k = p.prediction[i]!;
    labels += (i ? ',' : '') + JSON.stringify(classes[k] ?? String(k));
  }
  const predict = `{"name":"predict","datatype":"BYTES","shape":[${n}],"data":[${labels}]}`;
  if (!p.proba) return `${head}${predict}]}`;
  const width = classes.length || p.proba.length / Math.max(n, 1);
  return `${head}${predict},{"name":"proba","datatype":"FP64","shape":[${n},${jsonNumber(width)}],"parameters":{"classes":${JSON.stringify(classes.join(','))}},"data":[${jsonNumbers(p.proba)}]}]}`;
}
