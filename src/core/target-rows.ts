import type { Value } from './mapping';
import type { TargetType } from './target-types';

/**
 * A batch's rows as one JSON array of objects keyed by column name, the parameter of the
 * load's `json_populate_recordset` statements (see src/plan/target-sql.ts). Built as text in
 * one pass, without an object per row.
 *
 * A column whose target type is json or jsonb takes a document as it is; a string there is
 * JSON text (as an INSERT would read it), so it goes in unquoted once it parses. A string
 * that is not JSON would be refused by the target: `invalidJsonColumn` names the column so
 * the row is quarantined before the statement.
 */
export function targetRowsJson(columns: readonly string[], types: readonly (TargetType | undefined)[], rows: readonly (readonly Value[])[]): string {
  const names = columns.map((c, i) => `${i ? ',' : ''}${JSON.stringify(c)}:`);
  const jsonText = columns.map((_, i) => types[i]?.kind === 'json');
  const parts: string[] = [];
  for (const row of rows) {
    let out = '{';
    for (let i = 0; i < names.length; i++) {
      const v = row[i];
      out += names[i];
      out += v === undefined ? 'null' : jsonText[i] && typeof v === 'string' ? v : JSON.stringify(v);
    }
    parts.push(`${out}}`);
  }
  return `[${parts.join(',')}]`;
}

/** The first json/jsonb column of the row holding a string that is not JSON text, or undefined. */
export function invalidJsonColumn(columns: readonly string[], types: readonly (TargetType | undefined)[], row: readonly Value[]): string | undefined {
  for (let i = 0; i < columns.length; i++) {
    const v = row[i];
    if (types[i]?.kind !== 'json' || typeof v !== 'string') continue;
    try {
      JSON.parse(v);
    } catch {
      return columns[i];
    }
  }
  return undefined;
}
