import { didYouMean, list, ref, type Found, type LintCheck } from './context.js';

/** A step setting an input that its component does not declare (often a typo). */
export const unknownInput: LintCheck = {
  name: 'unknown-input',
  run(ctx) {
    const out: Found[] = [];
    ctx.ir.steps.forEach((step, i) => {
      const c = ctx.componentOf(step);
      if (!c) return;
      const declared = Object.keys(c.inputs);
      for (const input of Object.keys(step.inputs)) {
        if (input in c.inputs) continue;
        out.push({
          severity: 'error', step: step.name, input, path: ['steps', i, 'inputs', input],
          message: `step '${step.name}' sets input '${input}', which its component ${ref(c)} does not declare${didYouMean(input, declared) || `; its inputs are ${list(declared)}`}`,
        });
      }
    });
    return out;
  },
};
