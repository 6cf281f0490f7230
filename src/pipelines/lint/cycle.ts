import { findCycles } from '../ir.js';
import type { LintCheck } from './context.js';

/** Steps that read each other's outputs in a circle can never start. */
export const cycle: LintCheck = {
  name: 'cycle',
  run({ ir, steps }) {
    return findCycles(ir).map((names) => {
      const first = steps.get(names[0]!)!;
      return {
        severity: 'error',
        step: names[0],
        path: ['steps', first.index],
        message: names.length === 1
          ? `step '${names[0]}' reads its own output`
          : `steps ${names.map((n) => `'${n}'`).join(', ')} form a cycle: ${[...names, names[0]].join(' → ')}; each reads an output of the one before it`,
      };
    });
  },
};
