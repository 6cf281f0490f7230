import { ERRORS } from './errors.js';

const esc = (s: string) => s.replace(/\|/g, '\\|');

/** The text of docs/errors.md, rendered from the registry so the two cannot drift apart. */
export function renderErrorsDoc(): string {
  const lines = [
    '# Errors',
    '',
    'Every error Trellis returns carries one of these codes. On the MLflow-compatible routes the body is',
    '`{"error_code": <MLflow code>, "message": …, "trellis_code": <code>}`; on Trellis routes',
    '`{"code": <code>, "message": …}`. Retryable errors can succeed when sent again unchanged.',
    '',
    'This page is generated from `src/core/errors.ts` by `npx tsx scripts/gen-errors-doc.ts`; a test fails when they differ.',
    '',
    '| code | HTTP | gRPC | retryable | MLflow code | message | how to solve |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const [code, s] of Object.entries(ERRORS)) {
    lines.push(`| \`${code}\` | ${s.http} | ${s.grpc} | ${s.retryable ? 'yes' : 'no'} | ${s.mlflow} | ${esc(s.message)} | ${esc(s.solve)} |`);
  }
  return `${lines.join('\n')}\n`;
}
