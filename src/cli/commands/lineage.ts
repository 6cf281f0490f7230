import { Command } from 'commander';
import { DEFAULT_LINEAGE_DEPTH, lineageText } from '../../registry/lineage.js';
import { globals, withBackend } from '../context.js';
import { numberOption } from '../refs.js';
import { output } from '../output.js';

export function lineageCommand(): Command {
  return new Command('lineage')
    .description('where a model version or dataset version came from, and what was made from it')
    .argument('<ref>', 'a model version (name@alias, name@3, name/3) or a dataset version (name@3); prefix model: or dataset: when a name is both')
    .option('--depth <n>', `hops to follow upstream and downstream (default ${DEFAULT_LINEAGE_DEPTH})`)
    .action(async (ref: string, o: { depth?: string }, c: Command) => {
      const depth = numberOption('depth', o.depth, (n) => Number.isInteger(n) && n >= 0, 'a whole number of at least 0');
      await withBackend(c, async (b) => {
        const g = await b.lineage(ref, { depth });
        output(!!globals(c).json, () => g, () => process.stdout.write(lineageText(g)));
      });
    });
}
