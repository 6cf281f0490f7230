/**
 * The gRPC peer of `bench/serve.ts`: a bare @grpc/grpc-js server, with the same service definition
 * and loader options as `trellis serve`, answering every ModelInfer with one constant response of
 * the shape Trellis gives (a BYTES `predict` and an FP64 `proba` [1,2] as raw contents), without
 * reading the request: what gRPC costs before any inference. `node --import tsx
 * bench/serve-grpc-peer.ts <port> [processes]`; more than one process share the port (node:cluster).
 */
import cluster from 'node:cluster';
import * as grpc from '@grpc/grpc-js';
import { inferencePackage } from '../src/serving/grpc/inference-proto.js';

const [port, processes] = [Number(process.argv[2]), Number(process.argv[3] ?? 1)];

if (processes > 1 && cluster.isPrimary) {
  for (let i = 0; i < processes; i++) cluster.fork();
} else {
  const pkg = grpc.loadPackageDefinition(inferencePackage()) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
  const label = Buffer.from('<=50K');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(label.length);
  const proba = Buffer.alloc(16);
  proba.writeDoubleLE(0.9953472124031116, 0);
  proba.writeDoubleLE(0.004652787596888336, 8);
  const answer = {
    model_name: 'adult', model_version: '1', id: '',
    outputs: [
      { name: 'predict', datatype: 'BYTES', shape: ['1'], parameters: {} },
      { name: 'proba', datatype: 'FP64', shape: ['1', '2'], parameters: { classes: { string_param: '<=50K,>50K' } } },
    ],
    raw_output_contents: [Buffer.concat([length, label]), proba],
  };
  const server = new grpc.Server();
  server.addService(pkg.inference.GRPCInferenceService.service, {
    ModelInfer: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, answer),
  });
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) {
      process.stderr.write(`the grpc-js peer cannot listen on ${port}: ${err.message}\n`);
      process.exit(1);
    }
  });
}
