/** Worker thread entry: verifies, parses, checks and decodes the model documents it is sent (see model-loader.ts). */
import { parentPort } from 'node:worker_threads';
import { answer, type LoadRequest } from './model-loader.js';

parentPort!.on('message', (req: LoadRequest) => {
  const { reply, transfer } = answer(req);
  parentPort!.postMessage(reply, transfer);
});
