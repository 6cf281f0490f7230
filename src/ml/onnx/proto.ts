/**
 * ONNX protobuf messages as plain objects, encoded and decoded by protobuf.js against the official
 * schema (onnx-schema.ts), plus the few helpers the exporter uses to write tensors and attributes.
 *
 * Why protobuf.js: it is the maintained protobuf implementation for JavaScript (conformance-tested,
 * no native code) and reads the schema as data, so the ONNX messages come from ONNX's own .proto
 * rather than from a hand-written encoder. The npm `onnx-proto` package was the other candidate; it
 * pins the previous major version of protobuf.js and has had no release in a year.
 */
import protobuf from 'protobufjs/light.js';
import { ONNX_SCHEMA } from './onnx-schema.js';

/** TensorProto.DataType. */
export const DT = {
  UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16,
} as const;

export const DT_NAMES: Record<number, string> = Object.fromEntries(Object.entries(DT).map(([k, v]) => [v, k.toLowerCase()]));

/** AttributeProto.AttributeType. */
const AT = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

export interface TensorProto {
  name?: string;
  dims?: number[];
  dataType?: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  doubleData?: number[];
  stringData?: Uint8Array[];
}

export interface AttributeProto {
  name: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
}

export interface NodeProto {
  name?: string;
  opType: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute?: AttributeProto[];
}

export interface Dimension {
  dimValue?: number;
  dimParam?: string;
}

export interface TypeProto {
  tensorType?: { elemType?: number; shape?: { dim?: Dimension[] } };
  sequenceType?: unknown;
  mapType?: unknown;
  optionalType?: unknown;
  sparseTensorType?: unknown;
}

export interface ValueInfoProto {
  name: string;
  type?: TypeProto;
  docString?: string;
}

export interface GraphProto {
  name?: string;
  node?: NodeProto[];
  initializer?: TensorProto[];
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  docString?: string;
}

export interface ModelProto {
  irVersion?: number;
  opsetImport?: { domain?: string; version?: number }[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph?: GraphProto;
  metadataProps?: { key?: string; value?: string }[];
}

let modelType: protobuf.Type | undefined;
function ModelType(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(ONNX_SCHEMA).lookupType('onnx.ModelProto');
  return modelType;
}

export function encodeModel(m: ModelProto): Uint8Array {
  const T = ModelType();
  const why = T.verify(m);
  if (why) throw new Error(`ONNX model does not match the schema: ${why}`);
  // A plain Uint8Array of its own (protobuf.js may hand back a Buffer cut from a shared pool).
  return new Uint8Array(T.encode(T.fromObject(m)).finish());
}

/** Decodes ModelProto bytes; throws protobuf.js's reason when they are not a valid message. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const T = ModelType();
  const msg = T.decode(bytes);
  return T.toObject(msg, { longs: Number, arrays: true });
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();
export const textOf = (b: Uint8Array | undefined): string => (b ? utf8Decoder.decode(b) : '');

function littleEndian(values: ArrayLike<number> | ArrayLike<bigint>, bytesPer: number, put: (v: DataView, at: number, x: never) => void): Uint8Array {
  const out = new Uint8Array(values.length * bytesPer);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) put(view, i * bytesPer, values[i] as never);
  return out;
}

export function doubleTensor(name: string, values: ArrayLike<number>, dims: number[] = [values.length]): TensorProto {
  return { name, dims, dataType: DT.DOUBLE, rawData: littleEndian(values, 8, (v, at, x: number) => v.setFloat64(at, x, true)) };
}

export function floatTensor(name: string, values: ArrayLike<number>, dims: number[] = [values.length]): TensorProto {
  return { name, dims, dataType: DT.FLOAT, rawData: littleEndian(values, 4, (v, at, x: number) => v.setFloat32(at, x, true)) };
}

export function int64Tensor(name: string, values: ArrayLike<number>, dims: number[] = [values.length]): TensorProto {
  return { name, dims, dataType: DT.INT64, rawData: littleEndian(values, 8, (v, at, x: number) => v.setBigInt64(at, BigInt(x), true)) };
}

export function uint8Tensor(name: string, values: ArrayLike<number>, dims: number[] = [values.length]): TensorProto {
  return { name, dims, dataType: DT.UINT8, rawData: Uint8Array.from(values) };
}

export function stringTensor(name: string, values: readonly string[], dims: number[] = [values.length]): TensorProto {
  return { name, dims, dataType: DT.STRING, stringData: values.map((s) => utf8.encode(s)) };
}

export const attr = {
  int: (name: string, i: number): AttributeProto => ({ name, type: AT.INT, i }),
  float: (name: string, f: number): AttributeProto => ({ name, type: AT.FLOAT, f }),
  string: (name: string, s: string): AttributeProto => ({ name, type: AT.STRING, s: utf8.encode(s) }),
  tensor: (name: string, t: TensorProto): AttributeProto => ({ name, type: AT.TENSOR, t }),
  ints: (name: string, ints: ArrayLike<number>): AttributeProto => ({ name, type: AT.INTS, ints: Array.from(ints) }),
  floats: (name: string, floats: ArrayLike<number>): AttributeProto => ({ name, type: AT.FLOATS, floats: Array.from(floats) }),
  strings: (name: string, strings: readonly string[]): AttributeProto => ({ name, type: AT.STRINGS, strings: strings.map((s) => utf8.encode(s)) }),
};

export function tensorValueInfo(name: string, elemType: number, shape: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** Builds a graph node by node, naming intermediate values uniquely. */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private count = 0;
  private readonly scalars = new Map<number, string>();

  fresh(hint: string): string {
    return `${hint.replace(/[^A-Za-z0-9_.]/g, '_')}_${this.count++}`;
  }

  /** A constant as a graph initializer; `make` receives its name. */
  constant(hint: string, make: (name: string) => TensorProto): string {
    const t = make(this.fresh(hint));
    this.initializers.push(t);
    return t.name!;
  }

  doubles(hint: string, values: ArrayLike<number>, dims?: number[]): string {
    return this.constant(hint, (n) => doubleTensor(n, values, dims));
  }

  /** A float64 scalar constant, shared by every node that uses the same value. */
  scalar(value: number): string {
    let name = this.scalars.get(value);
    if (name === undefined) {
      name = this.doubles('c', [value], []);
      this.scalars.set(value, name);
    }
    return name;
  }

  int64s(hint: string, values: ArrayLike<number>, dims?: number[]): string {
    return this.constant(hint, (n) => int64Tensor(n, values, dims));
  }

  /** Adds a node with one output (returned); `o.output` names it (for graph outputs). */
  op(opType: string, inputs: string[], attributes: AttributeProto[] = [], o: { domain?: string; output?: string } = {}): string {
    const output = o.output ?? this.fresh(opType);
    this.nodes.push({ name: `${opType}_${this.nodes.length}`, opType, domain: o.domain ?? '', input: inputs, output: [output], attribute: attributes });
    return output;
  }
}
