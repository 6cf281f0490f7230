import { CommanderError } from 'commander';
import { isTrellisError } from '../core/errors.js';
import { buildProgram } from './program.js';

async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode;
      return;
    }
    if (isTrellisError(e)) {
      console.error(`error: ${e.message} [${e.code}]`);
      process.exitCode = 1;
      return;
    }
    console.error(`error: ${(e as Error).message ?? e}`);
    process.exitCode = 1;
  }
}

// `trellis runs list | head` closes the pipe early; that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

await main(process.argv);
