/**
 * Runs the benchmarks and writes their figures to bench/results/<name>.json.
 *   npm run bench                 # all
 *   npm run bench -- ingest       # one
 *   npm run bench -- auth         # auth off and on side by side
 *   npm run bench -- score        # batch scoring of 1,000,000 rows
 *   npm run bench -- edge-module  # the model as an ES module against in-process predict()
 *   npm run bench -- onnx-batch   # ONNX serving, micro-batched or not, 32 concurrent clients
 *   npm run bench -- serve        # trellis serve under load against FastAPI and node:http
 *   npm run bench -- model-load   # what loading a model costs the serving thread, with and without the loading worker
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { runIngestBench } from './ingest.js';
import { runSearchBench } from './search.js';
import { runProfileBench } from './profile.js';
import { runGbdtBench } from './gbdt.js';
import { runPipelinesBench } from './pipelines.js';
import { runAuthBench } from './auth.js';
import { runScoreBench } from './score.js';
import { runEdgeModuleBench } from './edge-module.js';
import { runOnnxBatchBench } from './onnx-batch.js';
import { runServeBench } from './serve.js';
import { runModelLoadBench } from './model-load.js';

const all: Record<string, () => Promise<unknown>> = { ingest: runIngestBench, search: runSearchBench, profile: runProfileBench, gbdt: runGbdtBench, pipelines: runPipelinesBench, auth: runAuthBench, score: runScoreBench, 'edge-module': runEdgeModuleBench, 'onnx-batch': runOnnxBatchBench, serve: runServeBench, 'model-load': runModelLoadBench };
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length ? wanted : Object.keys(all);
const out = new URL('./results/', import.meta.url);
mkdirSync(out, { recursive: true });
for (const name of names) {
  const fn = all[name];
  if (!fn) throw new Error(`unknown benchmark '${name}'; choose from ${Object.keys(all).join(', ')}`);
  const result = await fn();
  writeFileSync(new URL(`${name}.json`, out), `${JSON.stringify({ name, date: new Date().toISOString(), node: process.version, result }, null, 2)}\n`);
}
