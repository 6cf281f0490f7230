import { aType, ref, type Found, type LintCheck } from './context.js';

/** A required component input that a step leaves unset; a pipeline parameter without a value for a run. */
export const missingParameter: LintCheck = {
  name: 'missing-parameter',
  run(ctx) {
    const out: Found[] = [];
    ctx.ir.steps.forEach((step, i) => {
      const c = ctx.componentOf(step);
      if (!c) return;
      for (const [input, spec] of Object.entries(c.inputs)) {
        if (input in step.inputs || spec.default !== undefined || spec.optional) continue;
        out.push({
          severity: 'error', step: step.name, input, path: ['steps', i, 'inputs'],
          message: `step '${step.name}' does not set input '${input}' (${aType(spec.type)}), which its component ${ref(c)} requires`,
        });
      }
    });
    if (ctx.params) {
      ctx.ir.params.forEach((p, i) => {
        if (p.default === undefined && !(p.name in ctx.params!)) {
          out.push({ severity: 'error', path: ['params', i], message: `pipeline parameter '${p.name}' (${aType(p.type)}) has no default and no value was given for it` });
        }
      });
    }
    return out;
  },
};
