import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { predict } from '../../ml/model.js';
import { decodeInferRequest } from '../oip/codec.js';
import { decodeRawTensor } from '../oip/tensors.js';
import { SAMPLE, TOKEN, tinyService, trainedModel } from '../test-helpers/tiny-service.js';
import { inferencePackage } from './inference-proto.js';
import { startGrpcServer, type GrpcServer } from './server.js';
import type { InferenceService } from '../types.js';

const model = trainedModel();
const service = tinyService(model);
const expected = predict(model, SAMPLE);
const labels = Array.from(expected.prediction, (k) => model.classes![k]);
const logged: { obj: Record<string, unknown>; msg: string }[] = [];
const refusals: [string | undefined, string][] = [];
const MAX_MESSAGE = 64 * 1024;

/** A decoded message, as loosely typed as JSON.parse's result: the assertions are the check. */
type Message = ReturnType<typeof JSON.parse>;
type Client = grpc.Client & Record<string, (req: unknown, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Message) => void) => grpc.ClientUnaryCall>;
interface WireTensor { name: string; datatype: string; shape: number[]; parameters?: Record<string, { string_param: string }>; contents?: Record<string, unknown[]> }
let server: GrpcServer;
let client: Client;

function connect(port: number): Client {
  const pkg = grpc.loadPackageDefinition(inferencePackage()) as Message;
  return new pkg.inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1 });
}

function call(method: string, req: unknown, headers: Record<string, string> = { authorization: TOKEN }, on: Client = client): Promise<{ response: Message; metadata: grpc.Metadata }> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  return new Promise((resolve, reject) => {
    let metadata = new grpc.Metadata();
    const c = on[method]!(req, md, (err, response) => (err ? reject(err) : resolve({ response, metadata })));
    c.on('metadata', (m: grpc.Metadata) => { metadata = m; });
  });
}

async function refused(p: Promise<unknown>, code: grpc.status, details: RegExp): Promise<void> {
  await assert.rejects(p, (e: grpc.ServiceError) => {
    assert.equal(e.code, code, `${grpc.status[e.code]}: ${e.details}`);
    assert.match(e.details, details);
    return true;
  });
  // The server is still up after a refusal.
  assert.equal((await call('ServerLive', {})).response.live, true);
}

const int64 = (values: number[]) => { const b = Buffer.alloc(8 * values.length); values.forEach((v, i) => b.writeBigInt64LE(BigInt(v), 8 * i)); return b; };
const fp64 = (values: number[]) => { const b = Buffer.alloc(8 * values.length); values.forEach((v, i) => b.writeDoubleLE(v, 8 * i)); return b; };
const bytes = (values: string[]) => Buffer.concat(values.flatMap((s) => { const t = Buffer.from(s); const l = Buffer.alloc(4); l.writeUInt32LE(t.length); return [l, t]; }));

const HEADERS: WireTensor[] = [
  { name: 'age', datatype: 'INT64', shape: [3] },
  { name: 'hours', datatype: 'FP64', shape: [3, 1] },
  { name: 'member', datatype: 'BOOL', shape: [3] },
  { name: 'city', datatype: 'BYTES', shape: [3], parameters: { content_type: { string_param: 'str' } } },
  { name: 'since', datatype: 'BYTES', shape: [3] },
];
const typedInputs = (): WireTensor[] => [
  { ...HEADERS[0]!, contents: { int64_contents: SAMPLE.map((r) => r.age) } },
  { ...HEADERS[1]!, contents: { fp64_contents: SAMPLE.map((r) => r.hours) } },
  { ...HEADERS[2]!, contents: { bool_contents: SAMPLE.map((r) => r.member) } },
  { ...HEADERS[3]!, contents: { bytes_contents: SAMPLE.map((r) => Buffer.from(r.city)) } },
  { ...HEADERS[4]!, contents: { bytes_contents: SAMPLE.map((r) => Buffer.from(r.since)) } },
];
const rawContents = () => [int64(SAMPLE.map((r) => r.age)), fp64(SAMPLE.map((r) => r.hours)), Buffer.from(SAMPLE.map((r) => (r.member ? 1 : 0))), bytes(SAMPLE.map((r) => r.city)), bytes(SAMPLE.map((r) => r.since))];

describe('the gRPC inference service', () => {
  before(async () => {
    server = await startGrpcServer({ service, host: '127.0.0.1', port: 0, maxMessageBytes: MAX_MESSAGE, maxBatch: 100, shutdownGraceMs: 1000, log: { error: (obj, msg) => { logged.push({ obj, msg }); } },
      onRefused: (endpoint, code) => refusals.push([endpoint, code]),
    });
    client = connect(server.port);
  });
  after(async () => {
    client.close();
    await server.close();
  });

  it('answers health and server metadata', async () => {
    assert.ok(server.port > 0);
    assert.deepEqual((await call('ServerLive', {}, {})).response, { live: true });
    assert.deepEqual((await call('ServerReady', {}, {})).response, { ready: true });
    assert.deepEqual((await call('ServerMetadata', {}, {})).response, { name: 'trellis', version: '0.1.0', extensions: ['binary_tensor_data'] });
  });

  it('answers model readiness and metadata to a caller with credentials', async () => {
    assert.deepEqual((await call('ModelReady', { name: 'income' })).response, { ready: true });
    assert.deepEqual((await call('ModelReady', { name: 'income', version: '3' })).response, { ready: true });
    const m = (await call('ModelMetadata', { name: 'income' })).response;
    assert.equal(m.name, 'income');
    assert.deepEqual(m.versions, ['3']);
    assert.equal(m.platform, 'trellis');
    assert.deepEqual(m.inputs.map((t: Message) => [t.name, t.datatype, t.shape]), [['age', 'INT64', ['-1']], ['hours', 'FP64', ['-1']], ['member', 'BOOL', ['-1']], ['city', 'BYTES', ['-1']], ['since', 'BYTES', ['-1']]]);
    assert.deepEqual(m.outputs.map((t: Message) => [t.name, t.datatype, t.shape]), [['predict', 'BYTES', ['-1']], ['proba', 'FP64', ['-1', '2']]]);
    await refused(call('ModelReady', { name: 'nope' }), grpc.status.NOT_FOUND, /Model nope not found/);
    await refused(call('ModelMetadata', { name: 'income', version: '9' }), grpc.status.NOT_FOUND, /Model income version 9 not found/);
    await refused(call('ModelMetadata', { name: 'income' }, {}), grpc.status.UNAUTHENTICATED, /A token is required/);
    await refused(call('ModelReady', { name: 'income' }, { authorization: 'Bearer wrong' }), grpc.status.PERMISSION_DENIED, /may not invoke income/);
    await refused(call('ModelReady', {}), grpc.status.INVALID_ARGUMENT, /The model name is required/);
  });

  it('infers from typed contents, as REST decoding of the same tensors does, with the request id, version and route', async () => {
    const { response, metadata } = await call('ModelInfer', { model_name: 'income', id: 'oip-7', inputs: typedInputs() }, { authorization: TOKEN, 'x-request-id': 'req-42', 'x-user': 'ann' });
    assert.equal(response.model_name, 'income');
    assert.equal(response.model_version, '3');
    assert.equal(response.id, 'oip-7');
    const [p, q] = response.outputs;
    assert.deepEqual([p.name, p.datatype, p.shape], ['predict', 'BYTES', ['3']]);
    assert.deepEqual(p.contents.bytes_contents.map((b: Buffer) => b.toString()), labels);
    assert.deepEqual([q.name, q.datatype, q.shape, q.parameters.classes.string_param], ['proba', 'FP64', ['3', '2'], 'high,low']);
    assert.deepEqual(q.contents.fp64_contents, Array.from(expected.proba!));
    assert.deepEqual(response.raw_output_contents, []);
    assert.deepEqual(metadata.get('x-request-id'), ['req-42']);
    assert.deepEqual(metadata.get('x-model-version'), ['3']);
    assert.deepEqual(metadata.get('x-route'), ['primary']);
    const seen = service.seen.at(-1)!;
    assert.equal(seen.requestId, 'req-42');
    assert.equal(seen.authorization, TOKEN);
    assert.equal(seen.remoteAddress, '127.0.0.1');
    assert.equal(seen.headers!['x-user'], 'ann');
    assert.equal(seen.headers!.authorization, undefined);
    // The same tensors as OIP JSON decode to the same records.
    const json = { inputs: [
      { name: 'age', datatype: 'INT64', shape: [3], data: SAMPLE.map((r) => r.age) }, { name: 'hours', datatype: 'FP64', shape: [3, 1], data: SAMPLE.map((r) => r.hours) },
      { name: 'member', datatype: 'BOOL', shape: [3], data: SAMPLE.map((r) => r.member) }, { name: 'city', datatype: 'BYTES', shape: [3], data: SAMPLE.map((r) => r.city) },
      { name: 'since', datatype: 'BYTES', shape: [3], data: SAMPLE.map((r) => r.since) },
    ] };
    assert.deepEqual(seen.records, decodeInferRequest(Buffer.from(JSON.stringify(json)), { signature: service.signature, maxBatch: 100 }).records);
    // Without an x-request-id the OIP id is the request id; without either one is generated, and returned.
    assert.deepEqual((await call('ModelInfer', { model_name: 'income', id: 'oip-8', inputs: typedInputs() })).metadata.get('x-request-id'), ['oip-8']);
    const generated = (await call('ModelInfer', { model_name: 'income', inputs: typedInputs(), outputs: [{ name: 'proba' }] })).metadata.get('x-request-id')[0] as string;
    assert.match(generated, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a time-ordered UUID');
    assert.equal(service.seen.at(-1)!.requestId, generated);
  });

  it('infers from raw contents and answers raw outputs holding the same predictions', async () => {
    const { response } = await call('ModelInfer', { model_name: 'income', model_version: '3', inputs: HEADERS, raw_input_contents: rawContents() });
    const [p, q] = response.outputs;
    assert.equal(p.contents, undefined);
    assert.equal(response.raw_output_contents.length, 2);
    assert.deepEqual(decodeRawTensor({ name: 'predict', datatype: 'BYTES', shape: [3] }, response.raw_output_contents[0]), labels);
    assert.deepEqual(decodeRawTensor({ name: 'proba', datatype: 'FP64', shape: [3, 2] }, response.raw_output_contents[1]), Array.from(expected.proba!));
    assert.deepEqual([q.name, q.shape], ['proba', ['3', '2']]);
    assert.deepEqual(service.seen.at(-1)!.records, SAMPLE);
    assert.equal(service.seen.at(-1)!.version, '3');
  });

  it('answers raw contents sent with nothing beside them (the one-pass path) exactly as the general path does, refusals included', async () => {
    // No parameter anywhere: the one-pass decoder takes it. A request-level content_type 'pd'
    // (every tensor a column, which these are) sends the same tensors the general way.
    const plain = HEADERS.map(({ parameters: _, ...t }) => t);
    const both = async (inputs: unknown[], raw: Buffer[]) => {
      const got = [];
      for (const parameters of [undefined, { content_type: { string_param: 'pd' } }]) {
        got.push(await call('ModelInfer', { model_name: 'income', inputs, raw_input_contents: raw, ...(parameters ? { parameters } : {}) })
          .then(({ response }) => ({ outputs: response.outputs, raw: response.raw_output_contents.map((b: Buffer) => b.toString('hex')), records: service.seen.at(-1)!.records }),
            (e: grpc.ServiceError) => ({ code: e.code, details: e.details })));
      }
      assert.deepEqual(got[0], got[1]);
      return got[0]!;
    };
    const ok = await both(plain, rawContents());
    assert.deepEqual('records' in ok && ok.records, SAMPLE);
    const raw = rawContents();
    const refusals = [
      await both(plain, [raw[0]!.subarray(0, 20), ...raw.slice(1)]),
      await both(plain, [int64([1, 2 ** 53, 3]), ...raw.slice(1)]),
      await both(plain, [...raw.slice(0, 2), Buffer.from([1, 2, 0]), ...raw.slice(3)]),
      await both(plain, [raw[0]!, fp64([1, Number.POSITIVE_INFINITY, 3]), ...raw.slice(2)]),
      await both(plain, [...raw.slice(0, 3), bytes(['a', 'b', 'c']).subarray(1), raw[4]!]),
      await both(plain, [...raw.slice(0, 4), bytes(['2024-01-01T00:00:00Z', 'soon', '2024-01-01T00:00:00Z'])]),
      await both([{ ...plain[0]!, shape: [4] }, ...plain.slice(1)], raw),
      await both([{ ...plain[0]!, name: 'AGE' }, ...plain.slice(1)], raw),
    ];
    for (const r of refusals) assert.equal('code' in r && r.code, grpc.status.INVALID_ARGUMENT, JSON.stringify(r));
    assert.match(JSON.stringify(refusals), /beyond ±2\^53/);
  });

  it('refuses bad tensors with INVALID_ARGUMENT naming the problem', async () => {
    const raw = rawContents();
    await refused(call('ModelInfer', { model_name: 'income', inputs: HEADERS, raw_input_contents: [raw[0]!.subarray(0, 20), ...raw.slice(1)] }), grpc.status.INVALID_ARGUMENT, /Input 'age' has 20 bytes of raw data; shape \[3\] of INT64 needs 24/);
    await refused(call('ModelInfer', { model_name: 'income', inputs: HEADERS, raw_input_contents: raw.slice(1) }), grpc.status.INVALID_ARGUMENT, /raw_input_contents has 4 entries for 5 inputs/);
    await refused(call('ModelInfer', { model_name: 'income', inputs: [typedInputs()[0], ...HEADERS.slice(1)], raw_input_contents: raw }), grpc.status.INVALID_ARGUMENT, /Input 'age' has typed contents and the request has raw_input_contents/);
    await refused(call('ModelInfer', { model_name: 'income', inputs: [{ ...HEADERS[0]!, contents: { fp64_contents: [1, 2, 3] } }, ...typedInputs().slice(1)] }), grpc.status.INVALID_ARGUMENT, /Input 'age' is INT64: its values go in contents.int64_contents, not contents.fp64_contents/);
    await refused(call('ModelInfer', { model_name: 'income', inputs: [{ ...HEADERS[0]!, contents: { int64_contents: [1, 2] } }, ...typedInputs().slice(1)] }), grpc.status.INVALID_ARGUMENT, /Input 'age' has 2 values in contents.int64_contents; its shape \[3\] needs 3/);
    await refused(call('ModelInfer', { model_name: 'income', inputs: [{ ...HEADERS[1]!, contents: { fp64_contents: [1, Number.NaN, 3] } }, ...typedInputs().filter((t) => t.name !== 'hours')] }), grpc.status.INVALID_ARGUMENT, /Input 'hours' row 1 is NaN; only finite numbers/);
    await refused(call('ModelInfer', { model_name: 'income', inputs: typedInputs().slice(1) }), grpc.status.INVALID_ARGUMENT, /Missing input age \(integer\)/);
    const before = service.seen.length;
    await refused(call('ModelInfer', { model_name: 'income', inputs: typedInputs(), outputs: [{ name: 'logits' }] }), grpc.status.INVALID_ARGUMENT, /Unknown output 'logits'; the model gives predict, proba/);
    assert.equal(service.seen.length, before, 'refused before inference');
    await refused(call('ModelInfer', { model_name: 'income', inputs: [{ name: 'x', datatype: 'FP16', shape: [1, 5] }], raw_input_contents: [Buffer.alloc(10)] }), grpc.status.INVALID_ARGUMENT, /Input 'x' row 0 column 4 \('since'\): column 'since' \(datetime\) needs an ISO-8601 date-time string, got number 0/);
  });

  it('reports each ModelInfer call refused before a model answered, with the endpoint it named and the status', async () => {
    refusals.length = 0;
    await call('ModelInfer', { model_name: 'income', inputs: typedInputs() });
    await refused(call('ModelInfer', { model_name: 'nope', inputs: typedInputs() }), grpc.status.NOT_FOUND, /nope/);
    await refused(call('ModelInfer', { model_name: 'income', inputs: typedInputs().slice(1) }), grpc.status.INVALID_ARGUMENT, /Missing input age/);
    await refused(call('ModelInfer', { model_name: 'income', inputs: typedInputs() }, {}), grpc.status.UNAUTHENTICATED, /token/);
    assert.deepEqual(refusals, [['nope', 'NOT_FOUND'], ['income', 'INVALID_ARGUMENT'], ['income', 'UNAUTHENTICATED']]);
  });

  it('maps unknown models, credentials, size limits and failures to their statuses', async () => {
    await refused(call('ModelInfer', { model_name: 'nope', inputs: typedInputs() }), grpc.status.NOT_FOUND, /Model nope not found/);
    await refused(call('ModelInfer', { model_name: 'income', inputs: typedInputs() }, {}), grpc.status.UNAUTHENTICATED, /A token is required/);
    await refused(call('ModelInfer', { model_name: 'income', inputs: typedInputs() }, { authorization: 'Bearer other' }), grpc.status.PERMISSION_DENIED, /may not invoke/);
    await refused(call('ModelInfer', { model_name: 'income', inputs: HEADERS, raw_input_contents: [Buffer.alloc(MAX_MESSAGE), ...rawContents().slice(1)] }), grpc.status.RESOURCE_EXHAUSTED, /larger than max|exceeds|too large/i);
    const many = HEADERS.map((h) => ({ ...h, shape: [101, ...h.shape.slice(1)] }));
    await refused(call('ModelInfer', { model_name: 'income', inputs: many }), grpc.status.RESOURCE_EXHAUSTED, /The batch has 101 rows .*at most 100/);
    await refused(call('ModelInfer', { model_name: 'income', inputs: typedInputs() }, { authorization: TOKEN, 'x-request-id': 'r'.repeat(200) }), grpc.status.INVALID_ARGUMENT, /The request id \(x-request-id, else the request's id\) must be 1 to 128 characters/);
    logged.length = 0;
    const failure = call('ModelInfer', { model_name: 'broken', inputs: typedInputs() }, { authorization: TOKEN, 'x-request-id': 'boom-1' });
    await assert.rejects(failure, (e: grpc.ServiceError) => e.metadata.get('x-request-id')[0] === 'boom-1');
    await refused(failure, grpc.status.INTERNAL, /^Internal server error$/);
    assert.equal(logged.length, 1);
    assert.equal(logged[0]!.obj.requestId, 'boom-1');
    assert.match(JSON.stringify(logged[0]!.obj.err), /the model file vanished/);
  });
});

describe('the gRPC server shutdown', () => {
  /** A service whose inference waits until released, and says when a call has reached it. */
  function gated() {
    const base = tinyService(model);
    let release!: () => void;
    let reached!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const inFlight = new Promise<void>((r) => { reached = r; });
    const service: InferenceService = { ...base, infer: async (req) => { reached(); await gate; return base.infer(req); } };
    return { service, release, inFlight };
  }

  it('lets a call in flight finish, then refuses new ones', async () => {
    const g = gated();
    const s = await startGrpcServer({ service: g.service, host: '127.0.0.1', port: 0, maxMessageBytes: MAX_MESSAGE, shutdownGraceMs: 60_000 });
    const c = connect(s.port);
    const pending = call('ModelInfer', { model_name: 'income', inputs: typedInputs() }, { authorization: TOKEN }, c);
    await g.inFlight;
    const closing = s.close();
    g.release();
    const { response } = await pending;
    assert.deepEqual(response.outputs[0].contents.bytes_contents.map((b: Buffer) => b.toString()), labels);
    await closing;
    await assert.rejects(call('ServerLive', {}, {}, c), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    c.close();
  });

  it('cuts a call still running when the grace is over', async () => {
    const g = gated();
    const s = await startGrpcServer({ service: g.service, host: '127.0.0.1', port: 0, maxMessageBytes: MAX_MESSAGE, shutdownGraceMs: 50 });
    const c = connect(s.port);
    const pending = call('ModelInfer', { model_name: 'income', inputs: typedInputs() }, { authorization: TOKEN }, c);
    await g.inFlight;
    await s.close();
    await assert.rejects(pending, (e: grpc.ServiceError) => e.code !== grpc.status.OK);
    g.release();
    c.close();
  });
});
