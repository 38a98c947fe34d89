import { businessKeyOf, compileMapper } from '../../src/core/mapping';
import { parsePlan } from '../../src/plan/load';

const plan = parsePlan(`
version: 1
name: t
entities:
  people:
    source: { table: s, key: id }
    target: { table: t, business_key: [legacy_id] }
    columns:
      legacy_id: { from: id }
      first: { from: full, transform: { split: { separator: " ", part: first } } }
      rest: { from: full, transform: { split: { separator: " ", part: rest } } }
      last: { from: full, transform: { split: { separator: " ", part: last } } }
      display: { from: [given, family], transform: { combine: { separator: " " } } }
      email: { from: email, transform: lowercase }
      status: { from: code, transform: { enum: { A: active, I: inactive } } }
      created: { from: epoch, transform: epoch_to_timestamp }
      seen: { from: epoch_ms, transform: { epoch_to_timestamp: { unit: ms } } }
      age: { from: age_text, transform: integer }
      admin: { from: admin_flag, transform: boolean }
      origin: { constant: legacy }
`);
const mapper = compileMapper(plan.entities[0]!);
const row = { id: 7, full: 'Ada Augusta King', given: 'Ada', family: null, email: 'Ada@Example.COM', code: 'A', epoch: 1_700_000_000, epoch_ms: '1700000000123', age_text: ' 36 ', admin_flag: 'Y' };

describe('row mapping', () => {
  it('applies every transform in target column order', () => {
    expect(mapper.columns).toEqual(['legacy_id', 'first', 'rest', 'last', 'display', 'email', 'status', 'created', 'seen', 'age', 'admin', 'origin']);
    expect(mapper.sourceColumns).toEqual(['id', 'full', 'given', 'family', 'email', 'code', 'epoch', 'epoch_ms', 'age_text', 'admin_flag']);
    expect(mapper.map(row)).toEqual({
      ok: true,
      values: [7, 'Ada', 'Augusta King', 'King', 'Ada', 'ada@example.com', 'active', '2023-11-14T22:13:20.000Z', '2023-11-14T22:13:20.123Z', 36, true, 'legacy'],
    });
  });

  it('keeps nulls null, and a one-word name has no rest', () => {
    const m = mapper.map({ ...row, full: 'Cher', email: null, epoch: null });
    expect(m.ok && m.values.slice(1, 4)).toEqual(['Cher', null, 'Cher']);
    expect(m.ok && m.values[5]).toBeNull();
    expect(m.ok && m.values[7]).toBeNull();
  });

  it.each([
    [{ code: 'X' }, 'status', 'enum: value not in the enum map'],
    [{ epoch: 'soon' }, 'created', 'epoch_to_timestamp: not a number of seconds'],
    [{ age_text: 'thirty' }, 'age', 'integer: not an integer'],
    [{ admin_flag: 'maybe' }, 'admin', 'boolean: not a boolean'],
  ])('quarantines %j as conversion_failed on its column, without the value', (patch, column, detail) => {
    const m = mapper.map({ ...row, ...patch });
    expect(m).toEqual({ ok: false, problem: { reason: 'conversion_failed', column, detail } });
    expect(JSON.stringify(m)).not.toContain(String(Object.values(patch)[0]));
  });

  it('refuses a row without its business key', () => {
    expect(mapper.map({ ...row, id: null })).toEqual({ ok: false, problem: { reason: 'missing_business_key', column: 'legacy_id', detail: 'business key is empty' } });
  });

  it('renders business keys the same for numbers and their text, single or composite', () => {
    expect(businessKeyOf([42], [0])).toBe(businessKeyOf(['42'], [0]));
    expect(businessKeyOf([42, 'x'], [0, 1])).toBe('["42","x"]');
    expect(businessKeyOf(['42', 'x'], [0, 1])).toBe('["42","x"]');
  });
});
