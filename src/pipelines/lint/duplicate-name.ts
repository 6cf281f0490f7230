import type { Path } from '../ir.js';
import type { Found, LintCheck } from './context.js';

/** Two steps, two definitions of one component version, or two parameters with one name. */
export const duplicateName: LintCheck = {
  name: 'duplicate-name',
  run({ ir }) {
    return [
      ...duplicates(ir.steps.map((s) => s.name), 'steps', (n, at) => ({ step: n, message: `step name '${n}' is used by ${at.length} steps (${at.map((i) => `steps[${i}]`).join(', ')}); step names must be unique` })),
      ...duplicates(ir.components.map((c) => `${c.name}@${c.version}`), 'components', (n, at) => ({ message: `component ${n} is defined ${at.length} times (${at.map((i) => `components[${i}]`).join(', ')})` })),
      ...duplicates(ir.params.map((p) => p.name), 'params', (n, at) => ({ message: `pipeline parameter '${n}' is declared ${at.length} times (${at.map((i) => `params[${i}]`).join(', ')})` })),
    ];
  },
};

function duplicates(names: string[], where: string, say: (name: string, at: number[]) => Omit<Found, 'severity' | 'path'>): Found[] {
  const at = new Map<string, number[]>();
  names.forEach((n, i) => at.set(n, [...(at.get(n) ?? []), i]));
  return [...at].filter(([, is]) => is.length > 1).map(([n, is]) => ({ severity: 'error', path: [where, is[1]!] as Path, ...say(n, is) }));
}
