/**
 * The pipeline linter: small named checks over the IR, each finding pointing at the user's
 * pipeline (the step, the input, the path of the field and, for parsed text, its line). One check
 * per file under `lint/`; to add one, write it there and list it here.
 */
import type { PipelineIR, Scalar } from './ir.js';
import { lintContext, type Finding, type LintCheck } from './lint/context.js';
import { cycle } from './lint/cycle.js';
import { danglingInput } from './lint/dangling-input.js';
import { duplicateName } from './lint/duplicate-name.js';
import { missingParameter } from './lint/missing-parameter.js';
import { paramType } from './lint/param-type.js';
import { placeholder } from './lint/placeholder.js';
import { trigger } from './lint/trigger.js';
import { typeMismatch } from './lint/type-mismatch.js';
import { unknownComponent } from './lint/unknown-component.js';
import { unknownInput } from './lint/unknown-input.js';
import { unknownParameter } from './lint/unknown-parameter.js';
import { unusedParameter } from './lint/unused-parameter.js';

export type { Finding, LintCheck, Severity } from './lint/context.js';

export const LINT_CHECKS: readonly LintCheck[] = [
  duplicateName, unknownComponent, cycle, danglingInput, unknownInput, missingParameter, typeMismatch, paramType,
  placeholder, unknownParameter, trigger, unusedParameter,
];

export interface LintOptions {
  /** Values for the pipeline's parameters, when linting for a run: parameters without a default must then have one. */
  params?: Record<string, Scalar>;
  /** Line of a field in the source text (`PipelineSource.locate`), to add to each finding. */
  locate?: (path: readonly PropertyKey[]) => number | undefined;
}

/** Every finding of every check, errors before warnings, each group in the order of the checks. */
export function lintPipeline(ir: PipelineIR, options: LintOptions = {}): Finding[] {
  const ctx = lintContext(ir, options.params);
  const findings = LINT_CHECKS.flatMap((c) => c.run(ctx).map((f): Finding => {
    const line = f.path && options.locate?.(f.path);
    return { check: c.name, ...f, ...(line ? { line } : {}) };
  }));
  return [...findings.filter((f) => f.severity === 'error'), ...findings.filter((f) => f.severity !== 'error')];
}

export const hasErrors = (findings: readonly Finding[]) => findings.some((f) => f.severity === 'error');
