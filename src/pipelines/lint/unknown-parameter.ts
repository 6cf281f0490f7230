import { didYouMean, type LintCheck } from './context.js';

/** A value given for a run to a parameter the pipeline does not declare. */
export const unknownParameter: LintCheck = {
  name: 'unknown-parameter',
  run({ ir, params }) {
    const declared = ir.params.map((p) => p.name);
    return Object.keys(params ?? {}).filter((n) => !declared.includes(n)).map((n) => ({
      severity: 'error' as const,
      message: `a value was given for parameter '${n}', which the pipeline does not declare${didYouMean(n, declared) || (declared.length ? `; its parameters are ${declared.join(', ')}` : '; it declares no parameters')}`,
    }));
  },
};
