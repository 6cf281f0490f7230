/**
 * onnxruntime-node, loaded on first use: importing Trellis never loads the native runtime, only
 * running or checking an ONNX model does. Sessions are built once per loaded estimator.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { TrellisError } from '../../core/errors.js';
import { takeOnnxBytes, type OnnxEstimator } from '../model.js';

type Ort = typeof import('onnxruntime-node');

let runtime: Promise<Ort> | undefined;

export function onnxRuntime(): Promise<Ort> {
  runtime ??= import('onnxruntime-node').catch((e: unknown) => {
    runtime = undefined;
    throw new TrellisError('TRELLIS_NOT_IMPLEMENTED', { feature: `Running ONNX models without onnxruntime-node (${(e as Error).message})` });
  });
  return runtime;
}

/** A session for ONNX bytes; onnxruntime's refusal becomes TRELLIS_MODEL_INVALID with its reason. */
export async function createSession(bytes: Uint8Array): Promise<InferenceSession> {
  const ort = await onnxRuntime();
  try {
    // Severity 3: errors only, so warnings about unused initializers do not reach the console.
    return await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  } catch (e) {
    throw new TrellisError('TRELLIS_MODEL_INVALID', { detail: `onnxruntime cannot load the ONNX graph: ${(e as Error).message}` });
  }
}

const sessions = new WeakMap<OnnxEstimator, Promise<InferenceSession>>();

export function sessionFor(e: OnnxEstimator): Promise<InferenceSession> {
  let s = sessions.get(e);
  if (!s) {
    s = createSession(takeOnnxBytes(e));
    sessions.set(e, s);
    s.catch(() => sessions.delete(e));
  }
  return s;
}
