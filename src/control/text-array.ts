/**
 * A PostgreSQL text[] literal of the given strings, for `= any(?::text[])`: one bind parameter
 * whose length the planner sees (a bound array is planned as the list it is). Every element is
 * quoted, with `"` and `\` escaped, so no value can end an element or the array.
 */
export function textArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
}
