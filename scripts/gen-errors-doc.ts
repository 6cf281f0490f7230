// Writes docs/errors.md from the error registry. `src/core/errors.test.ts` fails when they differ.
import { writeFileSync } from 'node:fs';
import { renderErrorsDoc } from '../src/core/errors-doc.js';

writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsDoc());
console.log('wrote docs/errors.md');
