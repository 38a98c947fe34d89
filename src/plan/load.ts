import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { PlanError, validatePlan } from './validate';
import type { Plan } from './types';

/** Reads and validates a plan file; a YAML syntax error is reported with its line. */
export function loadPlanFile(file: string): Plan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PlanError([{ path: '(file)', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }], file);
  }
  return parsePlan(text, file);
}

export function parsePlan(text: string, file?: string): Plan {
  const doc = parseDocument(text);
  if (doc.errors.length) {
    throw new PlanError(
      doc.errors.map((e) => ({ path: `(yaml line ${e.linePos?.[0]?.line ?? '?'})`, message: e.message.split('\n')[0]! })),
      file,
    );
  }
  return validatePlan(doc.toJS(), file);
}
