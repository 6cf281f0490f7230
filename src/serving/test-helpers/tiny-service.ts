/**
 * A small trained model and an InferenceService serving it, for the protocol tests: a linear
 * classifier over an integer, a float, a boolean, a string and a datetime column, trained on
 * generated rows, behind the endpoint "income" (and "broken", whose inference fails as a bug
 * would), which knows one token: no token is unauthenticated, another is forbidden.
 */
import { tableFromRows } from '../../data/table.js';
import { loadModel, predict, type TrellisModel } from '../../ml/model.js';
import { trainLinear } from '../../ml/train-linear.js';
import { tensorMetadata } from '../oip/codec.js';
import { ServingError, type EndpointModel, type InferenceService, type InferRequest, type InferResult, type InputColumn } from '../types.js';

export const TOKEN = 'Bearer let-me-in';

export function trainedModel(): TrellisModel {
  const cities = ['Lyon', 'Paris', 'Nice'];
  const rows = Array.from({ length: 300 }, (_, i) => {
    const age = 20 + (i * 7) % 45;
    const hours = 10 + ((i * 13) % 50) + (i % 3) * 0.5;
    const member = i % 4 === 0;
    const city = cities[i % 3]!;
    const since = new Date(Date.UTC(2020, i % 12, 1 + (i % 28))).toISOString();
    const score = 0.05 * age + 0.04 * hours + (member ? 1 : 0) + (city === 'Paris' ? 0.8 : 0) - 4 + ((i * 37) % 11) / 10 - 0.5;
    return { age, hours, member, city, since, label: score > 0 ? 'high' : 'low' };
  });
  const { model } = trainLinear(tableFromRows(rows), 'label', { task: 'binary' });
  return loadModel(JSON.stringify(model));
}

export const SAMPLE = [
  { age: 25, hours: 20.5, member: false, city: 'Lyon', since: '2020-03-04T00:00:00.000Z' },
  { age: 61, hours: 55, member: true, city: 'Paris', since: '2020-11-20T00:00:00.000Z' },
  { age: 40, hours: 35.5, member: false, city: 'Nice', since: '2020-06-15T00:00:00.000Z' },
];

/** An InferenceService over one model: endpoint "income", version "3", token {@link TOKEN}. */
export function tinyService(model: TrellisModel = trainedModel()): InferenceService & { signature: InputColumn[]; seen: InferRequest[] } {
  const signature: InputColumn[] = model.features.inputs.map((c) => ({ name: c.name, type: c.type }));
  const { inputs, outputs } = tensorMetadata(signature, model.task, model.classes);
  const endpoint: EndpointModel = {
    metadata: { name: 'income', versions: ['3'], platform: 'trellis', inputs, outputs },
    signature, task: model.task, classes: model.classes, ready: true,
  };
  const seen: InferRequest[] = [];
  return {
    signature, seen,
    live: () => true,
    ready: () => true,
    serverMetadata: () => ({ name: 'trellis', version: '0.1.0', extensions: ['binary_tensor_data'] }),
    model(name: string, version?: string): EndpointModel {
      if ((name !== 'income' && name !== 'broken') || (version !== undefined && version !== '3')) throw new ServingError('not_found', `Model ${name}${version ? ` version ${version}` : ''} not found`);
      return endpoint;
    },
    async authorize(name: string, caller: { authorization?: string }): Promise<void> {
      if (caller.authorization === undefined) throw new ServingError('unauthenticated', 'A token is required');
      if (caller.authorization !== TOKEN) throw new ServingError('forbidden', `This token may not invoke ${name}`);
    },
    async infer(req: InferRequest): Promise<InferResult> {
      seen.push(req);
      await this.authorize(req.endpoint, req);
      this.model(req.endpoint, req.version);
      if (req.endpoint === 'broken') throw new Error('the model file vanished');
      return { modelName: 'income', modelVersion: '3', registeredModel: 'income-model', route: 'primary', task: model.task, predictions: predict(model, req.records) };
    },
  };
}
