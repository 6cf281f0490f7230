/**
 * A store whose prediction log holds two experiments, for the A/B report's tests:
 *
 * - `income-ab`, sticky arms a (income/1) and b (income/2) at 50% each: 400 requests each,
 *   alternating one second apart; 20 failures per arm (every 20th); the 380 answered requests
 *   labelled, arm a right on 70% of them, arm b on 85%; latencies 10–19 ms on a, 20–29 ms on b.
 * - `price-canary`, a regressor: primary income/1 at 90% that got 690 requests, canary income/2 at
 *   10% that got 300 (a broken split), and a shadow income/3 copying 100 of them; the primary is
 *   off by 1, 2, 3 in turn (RMSE √(14/3)), the canary by 0, 1, 2 (RMSE √(5/3)).
 */
import type { PredictionEntry } from '../../store/ports/predictions.js';
import type { DeploymentRequest } from '../deployment-service.js';
import type { PredictionService } from '../prediction-service.js';

/** Where the experiments go: the workspace's prediction service and deployments, or a bare store's. */
export interface AbFixtureTarget {
  predictions: Pick<PredictionService, 'append' | 'feedback'>;
  /** Creates an endpoint routing to income/1, income/2 and income/3, which must resolve. */
  createDeployment(name: string, req: DeploymentRequest): Promise<unknown>;
}

export const AB_PER_ARM = 400;
export const AB_ERRORS_PER_ARM = 20;

/** Creates both endpoints and fills their log, starting `start` (ms). */
export async function fillAbLog(ws: AbFixtureTarget, start: number): Promise<void> {
  await ws.createDeployment('income-ab', { ab: [{ model: 'income/1', share: 50, arm: 'a' }, { model: 'income/2', share: 50, arm: 'b' }], stickyKey: 'header:x-user' });
  await ws.createDeployment('price-canary', { model: 'income/1', canary: { model: 'income/2', share: 10 }, shadow: 'income/3' });

  const classes = ['<=50K', '>50K'];
  const ab: PredictionEntry[] = [];
  const labels: [string, string][] = [];
  const answered = [0, 0];
  for (let i = 0; i < 2 * AB_PER_ARM; i++) {
    const arm = i % 2; // 0 = a, 1 = b
    const k = Math.floor(i / 2); // the arm's k-th request
    const failed = k % 20 === 0;
    const entry: PredictionEntry = {
      requestId: `r${i}`, endpoint: 'income-ab', time: start + i * 1000, model: 'income', version: String(arm + 1), route: arm ? 'arm:b' : 'arm:a', shadow: false,
      latencyMs: (arm ? 20 : 10) + (k % 10), inputs: [{ age: 20 + (k % 40) }], classes,
      ...(failed ? { error: 'model failed' } : { predictions: ['>50K'] }),
    };
    ab.push(entry);
    // Of every 20 answered rows, the first 14 (a) or 17 (b) are right.
    if (!failed) labels.push([entry.requestId, answered[arm]!++ % 20 < (arm ? 17 : 14) ? '>50K' : '<=50K']);
  }
  await ws.predictions.append(ab);
  for (const [id, label] of labels) await ws.predictions.feedback('income-ab', id, [label]);

  const canary: PredictionEntry[] = [];
  const truth: [string, number][] = [];
  const off = (route: string, j: number) => (route === 'primary' ? 1 + (j % 3) : j % 3);
  let p = 0;
  let c = 0;
  for (let i = 0; i < 990; i++) {
    const isCanary = i % 33 < 10; // 300 of 990
    const route = isCanary ? 'canary' : 'primary';
    const j = isCanary ? c++ : p++;
    const label = 100 + (i % 7);
    const id = `q${i}`;
    canary.push({ requestId: id, endpoint: 'price-canary', time: start + i * 500, model: 'income', version: isCanary ? '2' : '1', route, shadow: false, latencyMs: 5, inputs: [{ i }], predictions: [label + off(route, j)] });
    if (i < 100) canary.push({ requestId: id, endpoint: 'price-canary', time: start + i * 500, model: 'income', version: '3', route: 'shadow', shadow: true, latencyMs: 7, inputs: [{ i }], predictions: [label] });
    truth.push([id, label]);
  }
  await ws.predictions.append(canary);
  for (const [id, label] of truth) await ws.predictions.feedback('price-canary', id, [label]);
}
