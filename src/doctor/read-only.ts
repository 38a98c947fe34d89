/** What the source role is allowed to do, as read from the catalog. */
export interface SourceRoleFacts {
  role: string;
  superuser: boolean;
  createRole: boolean;
  createDb: boolean;
  /** Tables the role may INSERT, UPDATE, DELETE or TRUNCATE. */
  writableTables: number;
  /** Schemas the role may CREATE objects in. */
  creatableSchemas: string[];
  defaultReadOnly: boolean;
}

/**
 * Cutover refuses a source role that could write: the source must stay exactly as the
 * migration found it. Returns the reasons it can write, empty when it is read-only.
 */
export function writeCapabilities(f: SourceRoleFacts): string[] {
  const reasons: string[] = [];
  if (f.superuser) reasons.push('is a superuser');
  if (f.createRole) reasons.push('may create roles');
  if (f.createDb) reasons.push('may create databases');
  if (f.writableTables > 0) reasons.push(`may write to ${f.writableTables} table(s)`);
  if (f.creatableSchemas.length) reasons.push(`may create objects in schema ${f.creatableSchemas.join(', ')}`);
  return reasons;
}
