import { componentsFor, type CommandComponent } from '../ir.js';
import { didYouMean, list, ref, type Found, type LintCheck } from './context.js';

export const PLACEHOLDER = /\{([A-Za-z_][\w-]*)\.([A-Za-z_][\w-]*)\}/g;

/** Command placeholders (`{inputs.x}`, `{outputs.x}`, `{params.x}`) naming nothing declared. */
export const placeholder: LintCheck = {
  name: 'placeholder',
  run({ ir }) {
    const out: Found[] = [];
    const params = ir.params.map((p) => p.name);
    ir.components.forEach((c, i) => {
      if (c.kind !== 'command') return;
      // The steps that run the component, so that the message names where the pipeline breaks.
      const steps = ir.steps.filter((s) => componentsFor(ir, s.component).includes(c)).map((s) => s.name);
      const who = steps.length ? `step${steps.length > 1 ? 's' : ''} ${list(steps.map((s) => `'${s}'`))} (component ${ref(c)}) use${steps.length > 1 ? '' : 's'}` : `component ${ref(c)} uses`;
      for (const { text, path } of commandTexts(c)) {
        for (const [whole, space, name] of text.matchAll(PLACEHOLDER)) {
          const names = space === 'inputs' ? Object.keys(c.inputs) : space === 'outputs' ? Object.keys(c.outputs) : space === 'params' ? params : undefined;
          const at = { severity: 'error' as const, path: ['components', i, ...path], ...(steps.length ? { step: steps[0] } : {}) };
          if (!names) {
            out.push({ ...at, message: `${who} placeholder ${whole}; placeholders are {inputs.NAME}, {outputs.NAME} and {params.NAME}` });
          } else if (!names.includes(name!)) {
            const what = space === 'params' ? 'the pipeline declares no such parameter' : `the component declares no such ${space === 'inputs' ? 'input' : 'output'}`;
            out.push({ ...at, message: `${who} placeholder ${whole}, but ${what}${didYouMean(name!, names) || (names.length ? `; there are ${list(names)}` : '')}` });
          }
        }
      }
    });
    return out;
  },
};

/** Every text of a command component that placeholders may appear in, with its path. */
export function commandTexts(c: CommandComponent): { text: string; path: (string | number)[] }[] {
  return [
    ...c.command.map((text, j) => ({ text, path: ['command', j] })),
    ...Object.entries(c.env ?? {}).map(([k, text]) => ({ text, path: ['env', k] })),
    ...(c.workdir === undefined ? [] : [{ text: c.workdir, path: ['workdir'] }]),
  ];
}
