import { parsePlan } from '../../src/plan/load';
import { PlanError } from '../../src/plan/validate';

/** What the validator says of a plan's text, as `path: message` lines (none for a valid plan). */
export function planIssues(text: string): string[] {
  try {
    parsePlan(text, 'p.yaml');
  } catch (err) {
    if (err instanceof PlanError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}
