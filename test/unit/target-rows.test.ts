import { invalidJsonColumn, targetRowsJson } from '../../src/core/target-rows';
import { upsertSql, rowsByKeySql } from '../../src/plan/target-sql';
import type { TargetType } from '../../src/core/target-types';

const types: (TargetType | undefined)[] = [{ kind: 'integer', bits: 32 }, { kind: 'text' }, { kind: 'json' }, undefined];
const columns = ['id', 'name', 'doc', 'parent'];

describe('targetRowsJson', () => {
  it('writes each row as an object keyed by column, in one JSON array', () => {
    const json = targetRowsJson(columns, types, [
      [1, 'Ann "A" \\ x', { a: [1, 'ü'] }, '7'],
      [2, null, null, null],
    ]);
    expect(JSON.parse(json)).toEqual([
      { id: 1, name: 'Ann "A" \\ x', doc: { a: [1, 'ü'] }, parent: '7' },
      { id: 2, name: null, doc: null, parent: null },
    ]);
  });

  it('takes a string in a json column as JSON text, and quotes strings elsewhere', () => {
    const json = targetRowsJson(columns, types, [[1, '{"x":1}', '{"x":1}', '[]']]);
    expect(JSON.parse(json)).toEqual([{ id: 1, name: '{"x":1}', doc: { x: 1 }, parent: '[]' }]);
  });

  it('an empty batch is an empty array', () => {
    expect(targetRowsJson(columns, types, [])).toBe('[]');
  });
});

describe('invalidJsonColumn', () => {
  it('names a json column whose string is not JSON (it would otherwise break out of its field)', () => {
    expect(invalidJsonColumn(columns, types, [1, 'x', '1, "name": "evil"', null])).toBe('doc');
    expect(invalidJsonColumn(columns, types, [1, 'not json is fine in text', '"a string"', null])).toBeUndefined();
  });
});

describe('target SQL', () => {
  const t = { schema: 'app', table: 'people' };
  it('upserts from one JSON parameter, updating the columns outside the business key', () => {
    const q = upsertSql(t, ['a', 'b', 'c'], ['a'], ['id', 'a'], '[]');
    expect(q.sql).toBe(
      'insert into ??.?? (??, ??, ??) select r.??, r.??, r.?? from json_populate_recordset(null::??.??, ?::json) as r on conflict (??) do update set ?? = excluded.??, ?? = excluded.?? returning ??, ??',
    );
    expect(q.bindings).toEqual(['app', 'people', 'a', 'b', 'c', 'a', 'b', 'c', 'app', 'people', '[]', 'a', 'b', 'b', 'c', 'c', 'id', 'a']);
    expect(upsertSql(t, ['a'], ['a'], ['a'], '[]').sql).toContain('on conflict (??) do nothing');
  });
  it('locks the rows holding the keys', () => {
    const q = rowsByKeySql(t, ['a', 'b'], ['a', 'b'], '[]', true);
    expect(q.sql).toBe('select x.??, x.?? from json_populate_recordset(null::??.??, ?::json) as k cross join lateral (select t.??, t.?? from ??.?? as t where t.?? = k.?? and t.?? = k.?? for update of t) as x');
    expect(q.bindings.filter((b) => b === '[]')).toHaveLength(1);
    expect(rowsByKeySql(t, ['a'], ['a'], '[]', false).sql).not.toContain('for update');
  });
});

describe('textArray', () => {
  it('quotes every element so PostgreSQL reads back exactly the strings given', () => {
    const { textArray } = jest.requireActual('../../src/control/text-array');
    expect(textArray(['a', 'b c', 'q"uote', 'back\\slash', '{,}', ''])).toBe('{"a","b c","q\\"uote","back\\\\slash","{,}",""}');
    expect(textArray([])).toBe('{}');
  });
});
