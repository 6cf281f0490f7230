import { canonicalJson } from '../../core/hash.js';
import type { TriggerSpec } from '../ir.js';
import { aType, didYouMean, literalProblem, type Found, type LintCheck } from './context.js';

const describeTrigger = (t: TriggerSpec): string =>
  'cron' in t ? `cron trigger '${t.cron}'` : 'dataset' in t ? `dataset trigger '${t.dataset}'` : 'pipeline' in t ? `pipeline trigger '${t.pipeline}'` : 'api trigger';

/**
 * Triggers that cannot work: a pipeline started by its own completion (it would run forever),
 * values for parameters the pipeline does not declare or of the wrong type, a scheduled trigger that
 * leaves a parameter without a value (nobody is there to give one), and the same trigger twice.
 */
export const trigger: LintCheck = {
  name: 'trigger',
  run({ ir }) {
    const out: Found[] = [];
    const declared = ir.params.map((p) => p.name);
    const seen = new Map<string, number>();
    (ir.triggers ?? []).forEach((t, i) => {
      const what = `${describeTrigger(t)} (triggers[${i}])`;
      const path = ['triggers', i];
      if ('pipeline' in t && t.pipeline === ir.name) {
        out.push({ severity: 'error', path, message: `${what} starts pipeline '${ir.name}' when it finishes itself, so it would run forever` });
      }
      for (const [name, v] of Object.entries(t.params ?? {})) {
        const p = ir.params.find((x) => x.name === name);
        if (!p) {
          out.push({ severity: 'error', path: [...path, 'params', name], message: `${what} gives a value to parameter '${name}', which the pipeline does not declare${didYouMean(name, declared) || (declared.length ? `; its parameters are ${declared.join(', ')}` : '; it declares no parameters')}` });
          continue;
        }
        const problem = literalProblem(p.type, v);
        if (problem) out.push({ severity: 'error', path: [...path, 'params', name], message: `${what}: parameter '${name}' ${problem}` });
      }
      if (!('api' in t)) {
        for (const p of ir.params) {
          if (p.default === undefined && !(p.name in (t.params ?? {}))) {
            out.push({ severity: 'error', path, message: `${what} starts runs without a value for parameter '${p.name}' (${aType(p.type)}), which has no default: give it in the trigger's params` });
          }
        }
      }
      const key = canonicalJson(t);
      if (seen.has(key)) out.push({ severity: 'warning', path, message: `${what} repeats triggers[${seen.get(key)}]; one event starts one run either way` });
      else seen.set(key, i);
    });
    return out;
  },
};
