import { isOutputRef, isParamRef } from '../ir.js';
import { accepts, aType, type Found, type LintCheck } from './context.js';

/** An input wired to an output (or a pipeline parameter) of another type. */
export const typeMismatch: LintCheck = {
  name: 'type-mismatch',
  run(ctx) {
    const out: Found[] = [];
    ctx.ir.steps.forEach((step, i) => {
      const c = ctx.componentOf(step);
      if (!c) return;
      for (const [input, v] of Object.entries(step.inputs)) {
        const spec = c.inputs[input];
        if (!spec) continue;
        const at = { severity: 'error' as const, step: step.name, input, path: ['steps', i, 'inputs', input] };
        if (isOutputRef(v)) {
          const up = ctx.steps.get(v.step);
          const upC = up && ctx.componentOf(up.step);
          const o = upC?.outputs[v.output];
          if (o && !accepts(spec.type, o.type)) {
            out.push({ ...at, message: `step '${step.name}' input '${input}' takes ${aType(spec.type)}, but it is wired to output '${v.output}' of step '${v.step}', which is ${aType(o.type)}` });
          }
        } else if (isParamRef(v)) {
          const p = ctx.ir.params.find((x) => x.name === v.param);
          if (p && !accepts(spec.type, p.type)) {
            out.push({ ...at, message: `step '${step.name}' input '${input}' takes ${aType(spec.type)}, but it is wired to pipeline parameter '${p.name}', which is ${aType(p.type)}` });
          }
        }
      }
    });
    return out;
  },
};
