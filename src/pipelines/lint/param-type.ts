import { isOutputRef, isParamRef, type Scalar } from '../ir.js';
import { aType, describeValue, isScalarType, literalProblem, ref, type Found, type LintCheck } from './context.js';

/**
 * A literal that does not fit the type it is given to: a step input, the default of a pipeline
 * parameter or of a component input, or a value supplied for a run.
 */
export const paramType: LintCheck = {
  name: 'param-type',
  run(ctx) {
    const out: Found[] = [];
    ctx.ir.params.forEach((p, i) => {
      const problem = p.default === undefined ? undefined : literalProblem(p.type, p.default);
      if (problem) out.push({ severity: 'error', path: ['params', i, 'default'], message: `pipeline parameter '${p.name}' is ${aType(p.type)}, but its default is ${describeValue(p.default!)}` });
      const given: Scalar | undefined = ctx.params?.[p.name];
      if (given !== undefined && literalProblem(p.type, given)) {
        out.push({ severity: 'error', path: ['params', i], message: `pipeline parameter '${p.name}' is ${aType(p.type)}, but the value given for it is ${describeValue(given)}` });
      }
    });
    ctx.ir.components.forEach((c, i) => {
      for (const [input, spec] of Object.entries(c.inputs)) {
        const path = ['components', i, 'inputs', input];
        if (spec.enum && spec.type !== 'string') out.push({ severity: 'error', path, message: `component ${ref(c)} input '${input}' lists allowed values, but only string inputs can; it is ${aType(spec.type)}` });
        if (spec.default === undefined) continue;
        if (!isScalarType(spec.type)) {
          out.push({ severity: 'error', path, message: `component ${ref(c)} input '${input}' is ${aType(spec.type)} and cannot have a default; only scalar inputs can` });
        } else if (literalProblem(spec.type, spec.default, spec.enum)) {
          out.push({ severity: 'error', path, message: `component ${ref(c)} input '${input}' ${literalProblem(spec.type, spec.default, spec.enum)} as its default` });
        }
      }
    });
    ctx.ir.steps.forEach((step, i) => {
      const c = ctx.componentOf(step);
      if (!c) return;
      for (const [input, v] of Object.entries(step.inputs)) {
        const spec = c.inputs[input];
        if (!spec || isOutputRef(v)) continue;
        if (isParamRef(v)) {
          // The parameter's type is type-mismatch's business; its value must still be one the input allows.
          const value = ctx.params?.[v.param] ?? ctx.ir.params.find((p) => p.name === v.param)?.default;
          if (spec.enum && typeof value === 'string' && !spec.enum.includes(value)) {
            out.push({ severity: 'error', step: step.name, input, path: ['steps', i, 'inputs', input], message: `step '${step.name}' input '${input}' takes one of ${spec.enum.join(', ')}, but pipeline parameter '${v.param}' is ${describeValue(value)}` });
          }
          continue;
        }
        const problem = literalProblem(spec.type, v, spec.enum);
        if (problem) out.push({ severity: 'error', step: step.name, input, path: ['steps', i, 'inputs', input], message: `step '${step.name}' input '${input}' ${problem}` });
      }
    });
    return out;
  },
};
