import type { z } from 'zod';
import { PlanSchema, show } from './schema';
import type { Plan } from './types';

/** One problem in a plan, named by the path of the field: `entities.users.columns.email.pii`. */
export interface PlanIssue {
  path: string;
  message: string;
}

export class PlanError extends Error {
  constructor(
    readonly issues: PlanIssue[],
    readonly file?: string,
  ) {
    super(`${file ?? 'plan'} is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
    this.name = 'PlanError';
  }
}

/** Validates a parsed YAML document (against ./schema); throws a PlanError listing every problem. */
export function validatePlan(raw: unknown, file?: string): Plan {
  const result = PlanSchema.safeParse(raw, { reportInput: true, error: fallbackMessage });
  if (result.success) return result.data;
  throw new PlanError(planIssues(result.error.issues, raw), file);
}

type Issue = z.core.$ZodIssue & { input?: unknown };

/** For a problem the schema has no message of its own for (there should be none): still "expected …, got …". */
const fallbackMessage = (iss: z.core.$ZodRawIssue): string | undefined => {
  if (iss.code === 'invalid_type') return `expected ${iss.expected === 'object' || iss.expected === 'record' ? 'a mapping' : iss.expected}, got ${show(iss.input)}`;
  if (iss.code === 'too_small' && iss.origin === 'array') return `expected at least ${iss.minimum} item${iss.minimum === 1 ? '' : 's'}, got ${show(iss.input)}`;
  return undefined;
};
type Path = readonly PropertyKey[];

/** zod's issues as plan issues: one per problem, each at its dotted path, duplicates dropped. */
export function planIssues(issues: readonly Issue[], raw: unknown): PlanIssue[] {
  const out: PlanIssue[] = [];
  const seen = new Set<string>();
  const add = (path: Path, message: string) => {
    const issue = { path: formatPath(path, raw), message };
    const key = `${issue.path}\n${issue.message}`;
    if (!seen.has(key)) out.push(issue);
    seen.add(key);
  };
  const visit = (iss: Issue, prefix: Path) => {
    const path = [...prefix, ...iss.path];
    if (iss.code === 'invalid_union') {
      const meant = meantOption(iss.errors as Issue[][]);
      if (meant) return meant.forEach((inner) => visit(inner, path));
    }
    // An unknown field is named by its own path (a schema with a message of its own keeps it whole).
    if (iss.code === 'unrecognized_keys' && iss.message.startsWith('unknown field')) return iss.keys.forEach((key) => add([...path, key], iss.message));
    add(path, iss.message);
  };
  issues.forEach((iss) => visit(iss, []));
  return out;
}

/**
 * The option of a union the plan meant, when it can be told: not one that rejects the value's
 * type (a list where a name is expected), and of the rest the one whose problems are deepest
 * inside it (a wrong option of `split`, not a missing `combine`). Otherwise undefined: the
 * union's own message (`expected a transform name or …`) says what would do.
 */
function meantOption(options: Issue[][]): Issue[] | undefined {
  const candidates = options.filter((issues) => !issues.some(rejectsType));
  const surface = (issues: Issue[]) => issues.filter((i) => i.path.length === 0 || (i.path.length === 1 && i.input === undefined)).length;
  const best = Math.min(...candidates.map(surface));
  const meant = candidates.filter((issues) => surface(issues) === best);
  return meant.length === 1 ? meant[0] : undefined;
}

/** An issue at the union's own level saying the value is of another type than the option takes. */
function rejectsType(iss: Issue): boolean {
  if (iss.path.length) return false;
  if (iss.code === 'invalid_type') return true;
  if (iss.code === 'invalid_value') return typeof iss.input === 'object'; // a mapping, list or null where a name is expected
  if (iss.code === 'invalid_union') return (iss.errors as Issue[][]).every((issues) => issues.some(rejectsType));
  return false;
}

/** `entities.users.columns.from[1]`; a phase is named by its name: `phases.people.entities`. */
function formatPath(path: Path, raw: unknown): string {
  let out = '';
  path.forEach((key, i) => {
    if (typeof key === 'number' && i === 1 && path[0] === 'phases') {
      const name = (raw as { phases?: { name?: unknown }[] })?.phases?.[key]?.name;
      out += `.${typeof name === 'string' ? name : key}`;
    } else if (typeof key === 'number') {
      out += `[${key}]`;
    } else {
      out += `${out ? '.' : ''}${String(key)}`;
    }
  });
  return out || '(plan)';
}
