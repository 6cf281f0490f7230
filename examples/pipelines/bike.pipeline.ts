/**
 * Bike-sharing demand: ingest the hourly rentals, validate them, keep the last 20% of the hours
 * for testing, train gradient-boosted trees on `cnt`, evaluate them, and register them as the
 * champion only when they are good enough and no worse than the current champion.
 *
 *   trellis pipelines lint examples/pipelines/bike.pipeline.ts
 *   trellis pipelines show examples/pipelines/bike.pipeline.ts
 *
 * `bike.pipeline.yaml` is the same pipeline written as YAML; both compile to the same IR.
 */
import { builtin, pipeline } from '../../src/pipelines/sdk.js';

export default pipeline('bike', (p) => {
  const dataset = p.param('dataset', 'string', { default: 'bike@latest', description: 'the bike-sharing dataset version to train on' });
  const trees = p.param('trees', 'integer', { default: 300, description: 'boosting rounds' });

  const ingest = p.step('ingest', builtin.ingest, { dataset });
  const validate = p.step('validate', builtin.validate, { data: ingest.outputs.data });
  const split = p.step('split', builtin.split, { data: validate.outputs.data, strategy: 'time', orderBy: 'dteday,hr', testSize: 0.2 });
  // casual + registered = cnt, and instant numbers the rows: a model that sees them learns nothing useful.
  const train = p.step('train', builtin.train, {
    data: split.outputs.train, target: 'cnt', exclude: 'instant,casual,registered', algo: 'gbdt', trees, learningRate: 0.05, maxLeaves: 63, seed: 7,
  }, { retries: 1, timeoutSeconds: 3600 });
  const evaluate = p.step('evaluate', builtin.evaluate, { model: train.outputs.model, data: split.outputs.test, target: 'cnt', bootstrap: 500 });
  const gate = p.step('gate', builtin.gate, {
    metrics: evaluate.outputs.metrics, condition: 'rmse <= 80 and rmse <= champion.rmse * 1.02', champion: 'bike@champion',
  }, { cache: { enabled: false } });
  p.step('register', builtin.register, {
    model: train.outputs.model, name: 'bike', alias: 'champion', metrics: evaluate.outputs.metrics, decision: gate.outputs.decision,
  }, { cache: { enabled: false } });
}, { description: 'Hourly bike rentals: train, evaluate, gate and register the champion' });
