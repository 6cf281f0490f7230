import { isParamRef } from '../ir.js';
import type { LintCheck } from './context.js';
import { commandTexts, PLACEHOLDER } from './placeholder.js';

/** A pipeline parameter that no step input and no command reads (a warning: it has no effect). */
export const unusedParameter: LintCheck = {
  name: 'unused-parameter',
  run({ ir }) {
    const used = new Set<string>();
    for (const s of ir.steps) for (const v of Object.values(s.inputs)) if (isParamRef(v)) used.add(v.param);
    for (const c of ir.components) {
      if (c.kind !== 'command') continue;
      for (const { text } of commandTexts(c)) for (const [, space, name] of text.matchAll(PLACEHOLDER)) if (space === 'params') used.add(name!);
    }
    return ir.params.flatMap((p, i) => (used.has(p.name) ? [] : [{
      severity: 'warning' as const, path: ['params', i],
      message: `pipeline parameter '${p.name}' is not read by any step input or command, so setting it changes nothing`,
    }]));
  },
};
