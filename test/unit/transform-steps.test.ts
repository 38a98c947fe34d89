import { applySteps, compileMapper } from '../../src/core/mapping';
import type { EntitySpec, Transform } from '../../src/plan/types';

const run = (steps: Transform[], inputs: unknown[], from: string[] = inputs.map((_, i) => `c${i}`)) => applySteps(steps, inputs, from);

describe('transform steps', () => {
  it('null_if turns values standing for none into NULL, compared as text', () => {
    const none: Transform = { kind: 'null_if', values: ['', 0] };
    expect(run([none], [''])).toBeNull();
    expect(run([none], [0])).toBeNull();
    expect(run([none], ['0'])).toBeNull();
    expect(run([none], ['x'])).toBe('x');
    expect(run([none], [7])).toBe(7);
  });

  it('steps compose: 0 = unset, else epoch seconds to a date or a timestamp', () => {
    expect(run([{ kind: 'null_if', values: [0] }, { kind: 'epoch_to_date', unit: 's' }], [0])).toBeNull();
    expect(run([{ kind: 'null_if', values: [0] }, { kind: 'epoch_to_date', unit: 's' }], [1_700_000_000])).toBe('2023-11-14');
    expect(run([{ kind: 'null_if', values: [0] }, { kind: 'epoch_to_timestamp', unit: 's' }], ['1700000000'])).toBe('2023-11-14T22:13:20.000Z');
    expect(run([{ kind: 'trim' }, { kind: 'null_if', values: [''] }, { kind: 'cast', type: 'inet' }], ['  '])).toBeNull();
    expect(run([{ kind: 'trim' }, { kind: 'null_if', values: [''] }, { kind: 'cast', type: 'inet' }], [' 10.1.2.3 '])).toBe('10.1.2.3');
  });

  it('coalesce takes the first value neither NULL nor empty', () => {
    expect(run([{ kind: 'coalesce' }], [null, '', 'b', 'c'])).toBe('b');
    expect(run([{ kind: 'coalesce' }], [null, ''])).toBeNull();
    expect(run([{ kind: 'coalesce' }, { kind: 'uppercase' }], ['', 'x'])).toBe('X');
  });

  it('template fills placeholders from the named columns; NULL when one is NULL', () => {
    const t: Transform = { kind: 'template', template: 'src:{host}:{username}' };
    expect(run([t], ['jdoe', 1], ['username', 'host'])).toBe('src:1:jdoe');
    expect(run([t], [null, 1], ['username', 'host'])).toBeNull();
    expect(run([t, { kind: 'uppercase' }], ['jdoe', 1], ['username', 'host'])).toBe('SRC:1:JDOE');
  });

  it('case decides a value from several columns, first arm first', () => {
    const status: Transform = {
      kind: 'case',
      arms: [
        { when: { deleted: 1 }, then: 'deleted' },
        { when: { suspended: [1, '1', 't'] }, then: 'suspended' },
      ],
      otherwise: 'active',
    };
    const from = ['deleted', 'suspended'];
    expect(run([status], [1, 1], from)).toBe('deleted');
    expect(run([status], [0, 1], from)).toBe('suspended');
    expect(run([status], [0, 't'], from)).toBe('suspended');
    expect(run([status], [0, 0], from)).toBe('active');
    expect(run([{ kind: 'case', arms: [{ when: { a: null }, then: 'none' }], otherwise: null }], [null], ['a'])).toBe('none');
  });

  it('cast gives the stored form and a value that does not fit is a conversion failure naming the steps, not the value', () => {
    expect(run([{ kind: 'cast', type: 'numeric(10,5)' }], ['87.5'])).toBe('87.50000');
    expect(run([{ kind: 'cast', type: 'char(2)' }], [''])).toBe('  ');
    const spec: EntitySpec = {
      name: 'users',
      source: { schema: 'public', table: 'mdl_user', key: 'id' },
      target: { schema: 'public', table: 'learners', businessKey: ['legacy_id'] },
      columns: [
        { name: 'legacy_id', from: ['id'], transform: { kind: 'copy' } },
        { name: 'country', from: ['country'], transform: [{ kind: 'trim' }, { kind: 'cast', type: 'char(2)' }] },
      ],
    };
    const mapper = compileMapper(spec);
    expect(mapper.map({ id: 5, country: 'GB' })).toEqual({ ok: true, values: [5, 'GB'] });
    const bad = mapper.map({ id: 6, country: 'GBR' });
    expect(bad).toEqual({ ok: false, problem: { reason: 'conversion_failed', column: 'country', detail: 'trim → cast: longer than 2 characters' } });
    expect(JSON.stringify(bad)).not.toContain('GBR');
  });

  it('one step given as an object works as before (plans written before step lists)', () => {
    const spec: EntitySpec = {
      name: 'u',
      source: { schema: 'public', table: 't', key: 'id' },
      target: { schema: 'public', table: 'p', businessKey: ['id'] },
      columns: [
        { name: 'id', from: ['id'], transform: { kind: 'copy' } },
        { name: 'mail', from: ['m'], transform: { kind: 'lowercase' } },
        { name: 'created', from: ['d'], transform: { kind: 'copy' } },
      ],
    };
    expect(compileMapper(spec).map({ id: 1, m: 'A@B.C', d: new Date('2024-01-02T00:00:00Z') })).toEqual({ ok: true, values: [1, 'a@b.c', '2024-01-02T00:00:00.000Z'] });
  });
});
