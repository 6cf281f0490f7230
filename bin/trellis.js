#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(built))) {
  console.error('trellis: the build is missing (dist/). Run `npm ci` or `npm run build` first.');
  process.exit(1);
}
await import(built.href);
