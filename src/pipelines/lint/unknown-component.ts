import { BUILTIN_LIST, findBuiltin } from '../builtins.js';
import { componentsFor, splitComponentRef } from '../ir.js';
import { didYouMean, list, type Found, type LintCheck } from './context.js';

/** A step naming a component that is neither defined in the pipeline nor built in. */
export const unknownComponent: LintCheck = {
  name: 'unknown-component',
  run({ ir }) {
    const out: Found[] = [];
    const builtins = BUILTIN_LIST.map((b) => b.name);
    ir.components.forEach((c, i) => {
      if (c.kind === 'builtin' && !findBuiltin(c.name, c.version)) {
        const versions = BUILTIN_LIST.filter((b) => b.name === c.name).map((b) => b.version);
        out.push({
          severity: 'error', path: ['components', i],
          message: versions.length
            ? `component '${c.name}@${c.version}' is declared builtin, but the built-in '${c.name}' has version ${list(versions)}`
            : `component '${c.name}@${c.version}' is declared builtin, but there is no such built-in${didYouMean(c.name, builtins) || `; the built-ins are ${list(builtins)}`}`,
        });
      }
    });
    ir.steps.forEach((step, i) => {
      const at = { severity: 'error' as const, step: step.name, path: ['steps', i, 'component'] };
      const found = componentsFor(ir, step.component);
      const versions = [...new Set(found.map((c) => c.version))];
      if (versions.length > 1) {
        out.push({ ...at, message: `step '${step.name}' uses component '${step.component}', which has versions ${list(versions)} in this pipeline; write ${versions.map((v) => `${step.component}@${v}`).join(' or ')}` });
      } else if (found.length === 0) {
        const { name } = splitComponentRef(step.component);
        const known = [...new Set([...ir.components.map((c) => c.name), ...builtins])];
        const sameName = ir.components.filter((c) => c.name === name).map((c) => c.version);
        const builtinVersions = BUILTIN_LIST.filter((c) => c.name === name).map((c) => c.version);
        out.push({
          ...at,
          message: sameName.length
            ? `step '${step.name}' uses component '${step.component}', but this pipeline defines '${name}' only at version ${list(sameName)}`
            : builtinVersions.length
              ? `step '${step.name}' uses component '${step.component}', but the built-in '${name}' has version ${list(builtinVersions)} only`
              : `step '${step.name}' uses component '${step.component}', which is neither defined in this pipeline nor built in${didYouMean(name, known)}`,
        });
      }
    });
    return out;
  },
};
