/** Losses of gradient boosting: first and second derivatives of each row's loss in its raw score. */
export type Objective = 'regression' | 'binary' | 'multiclass';

export interface GradientBuffers {
  objective: Objective;
  /** Outputs per row. */
  k: number;
  /** Raw scores, n × k. */
  raw: Float64Array;
  y: Float64Array;
  /** Gradients and hessians, n × k. */
  g: Float32Array;
  h: Float32Array;
}

/** Gradients and hessians of rows [from, to): squared error, log loss, or softmax cross-entropy. */
export function gradients(b: GradientBuffers, from: number, to: number): void {
  const { objective, k, raw, y, g, h } = b;
  if (objective === 'regression') {
    for (let i = from; i < to; i++) { g[i] = raw[i]! - y[i]!; h[i] = 1; }
  } else if (objective === 'binary') {
    for (let i = from; i < to; i++) {
      const q = 1 / (1 + Math.exp(-raw[i]!));
      g[i] = q - y[i]!;
      h[i] = Math.max(q * (1 - q), 1e-16);
    }
  } else {
    for (let i = from; i < to; i++) {
      let max = -Infinity;
      for (let c = 0; c < k; c++) max = Math.max(max, raw[i * k + c]!);
      let sum = 0;
      for (let c = 0; c < k; c++) sum += Math.exp(raw[i * k + c]! - max);
      for (let c = 0; c < k; c++) {
        const q = Math.exp(raw[i * k + c]! - max) / sum;
        g[i * k + c] = q - (y[i] === c ? 1 : 0);
        h[i * k + c] = Math.max(q * (1 - q), 1e-16);
      }
    }
  }
}
