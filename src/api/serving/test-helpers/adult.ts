/**
 * What the serving tests send: the first row of the Adult census fixture, as records and as OIP
 * tensors (one per column), and a caller check that knows one good token.
 */
import { fileURLToPath } from 'node:url';
import type { Authorize } from '../../../serving/engine.js';
import { ServingError } from '../../../serving/types.js';

/** 200 rows of Adult census income, with the `income` target. */
export const ADULT = fileURLToPath(new URL('../../../data/readers/fixtures/adult_train_head200.csv', import.meta.url));

export const ROW = {
  age: 39, workclass: 'State-gov', fnlwgt: 77516, education: 'Bachelors', 'education-num': 13, 'marital-status': 'Never-married',
  occupation: 'Adm-clerical', relationship: 'Not-in-family', race: 'White', sex: 'Male', 'capital-gain': 2174, 'capital-loss': 0,
  'hours-per-week': 40, 'native-country': 'United-States',
};

/** One OIP request body for ROW: a [1] tensor per column. */
export const BODY = JSON.stringify({ inputs: Object.entries(ROW).map(([name, v]) => ({ name, datatype: typeof v === 'number' ? 'INT64' : 'BYTES', shape: [1], data: [v] })) });

/** Rows as OIP tensors, one per column of ROW: INT64 for numbers, BYTES for text; shape [N] unless given. */
export function columns(rows: Record<string, unknown>[], shape?: (n: number) => number[]) {
  return Object.keys(ROW).map((name) => {
    const v = ROW[name as keyof typeof ROW];
    return { name, datatype: typeof v === 'number' ? 'INT64' : 'BYTES', shape: shape ? shape(rows.length) : [rows.length], data: rows.map((r) => r[name]) };
  });
}

/** `Bearer good` is bob; any other token is refused (403), no token asks for one (401). */
export const authorizeGoodToken: Authorize = async (c) => {
  if (c.authorization === 'Bearer good') return 'bob';
  throw new ServingError(c.authorization ? 'forbidden' : 'unauthenticated', c.authorization ? "'eve' may not invoke" : 'a token is required');
};
