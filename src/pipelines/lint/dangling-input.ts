import { isOutputRef, isParamRef } from '../ir.js';
import { didYouMean, list, ref, type Found, type LintCheck } from './context.js';

/** An input that reads a step, an output or a pipeline parameter that does not exist. */
export const danglingInput: LintCheck = {
  name: 'dangling-input',
  run(ctx) {
    const out: Found[] = [];
    const params = ctx.ir.params.map((p) => p.name);
    ctx.ir.steps.forEach((step, i) => {
      for (const [input, v] of Object.entries(step.inputs)) {
        const at = { severity: 'error' as const, step: step.name, input, path: ['steps', i, 'inputs', input] };
        if (isParamRef(v) && !params.includes(v.param)) {
          out.push({ ...at, message: `step '${step.name}' input '${input}' reads pipeline parameter '${v.param}', which is not declared${didYouMean(v.param, params) || (params.length ? `; the parameters are ${list(params)}` : '; the pipeline declares no parameters')}` });
        }
        if (!isOutputRef(v)) continue;
        const up = ctx.steps.get(v.step);
        if (!up) {
          out.push({ ...at, message: `step '${step.name}' input '${input}' reads step '${v.step}', which does not exist${didYouMean(v.step, ctx.steps.keys())}` });
          continue;
        }
        const c = ctx.componentOf(up.step);
        if (c && !(v.output in c.outputs)) {
          const outputs = Object.keys(c.outputs);
          out.push({ ...at, message: `step '${step.name}' input '${input}' reads output '${v.output}' of step '${v.step}', which its component ${ref(c)} does not declare${didYouMean(v.output, outputs) || `; its outputs are ${list(outputs)}`}` });
        }
      }
    });
    return out;
  },
};
