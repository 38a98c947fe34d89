import { rowDigest } from '../../src/core/digest';
import { castTo, catalogType, parseTargetType, storedForm, TypeMismatch } from '../../src/core/target-types';

const t = (name: string) => parseTargetType(name)!;
const key = Buffer.alloc(32, 7);

describe('target types: the value as the target stores it', () => {
  it('reads catalog names and plan cast names alike', () => {
    expect(parseTargetType('numeric(10,5)')).toEqual({ kind: 'numeric', precision: 10, scale: 5 });
    expect(parseTargetType('NUMERIC ( 10 , 5 )')).toEqual({ kind: 'numeric', precision: 10, scale: 5 });
    expect(parseTargetType('character(2)')).toEqual({ kind: 'char', length: 2 });
    expect(parseTargetType('char(2)')).toEqual({ kind: 'char', length: 2 });
    expect(parseTargetType('character varying(254)')).toEqual({ kind: 'text', length: 254 });
    expect(parseTargetType('timestamp with time zone')).toEqual({ kind: 'timestamptz' });
    expect(parseTargetType('timestamp(3) without time zone')).toEqual({ kind: 'timestamp', precision: 3 });
    expect(parseTargetType('timestamp(0) with time zone')).toEqual({ kind: 'timestamptz', precision: 0 });
    expect(parseTargetType('person_status')).toBeUndefined();
    expect(catalogType('person_status')).toEqual({ kind: 'other', name: 'person_status' });
  });

  it.each([
    ['char(2)', '', '  '],
    ['char(2)', 'G', 'G '],
    ['char(2)', 'GB   ', 'GB'],
    ['numeric(10,5)', 12.5, '12.50000'],
    ['numeric(10,5)', '12.500004', '12.50000'],
    ['numeric(10,5)', '12.500005', '12.50001'],
    ['numeric(10,5)', '-0.000004', '0.00000'],
    ['numeric(10,5)', '-2.5', '-2.50000'],
    ['numeric(4,0)', '1e3', '1000'],
    ['numeric', '12.50', '12.5'],
    ['date', '2024-02-29T23:59:59.000Z', '2024-02-29'],
    ['date', '2024-02-29', '2024-02-29'],
    ['timestamptz', '2024-01-02 03:04:05.123+00', '2024-01-02T03:04:05.123Z'],
    ['timestamptz', '2024-01-02T05:04:05+02:00', '2024-01-02T03:04:05.000Z'],
    ['timestamp', '2024-01-02T03:04:05.000Z', '2024-01-02T03:04:05.000'],
    ['timestamp', '2024-01-02 03:04:05', '2024-01-02T03:04:05.000'],
    ['timestamptz(0)', '2024-01-02T03:04:05.500Z', '2024-01-02T03:04:06.000Z'],
    ['timestamp(0)', '2024-01-02T03:04:05.499Z', '2024-01-02T03:04:05.000'],
    ['inet', '10.0.0.1/32', '10.0.0.1'],
    ['inet', '10.0.0.0/8', '10.0.0.0/8'],
    ['inet', '2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['integer', ' 42 ', 42],
    ['bigint', '9007199254740993', '9007199254740993'],
    ['boolean', 'Y', true],
    ['uuid', '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
  ])('%s of %j is %j', (type, input, stored) => {
    expect(castTo(t(type), input)).toEqual(stored);
  });

  it.each([
    ['char(2)', 'GBR'],
    ['varchar(3)', 'abcd'],
    ['numeric(10,5)', '123456.1'],
    ['numeric(10,5)', 'twelve'],
    ['date', '2023-02-29'],
    ['date', 'yesterday'],
    ['inet', '300.1.1.1'],
    ['inet', '10.0.0.1/33'],
    ['smallint', 40000],
    ['integer', '1.5'],
    ['uuid', 'not-a-uuid'],
    ['timestamptz', 'soon'],
  ])('refuses %s of %j, as PostgreSQL would', (type, input) => {
    expect(() => castTo(t(type), input)).toThrow(TypeMismatch);
  });

  it('NULL stays NULL in every type', () => {
    for (const name of ['char(2)', 'numeric(10,5)', 'date', 'inet', 'jsonb']) expect(castTo(t(name), null)).toBeNull();
  });

  it('a staged value and the value read back agree in the stored form, where the type-blind form does not', () => {
    const pairs: [string, unknown, unknown][] = [
      ['character(2)', '', '  '],
      ['numeric(10,5)', 87.5, '87.50000'],
      ['date', '2023-11-14T22:13:20.000Z', '2023-11-14'],
      ['inet', '192.168.0.7/32', '192.168.0.7'],
      ['jsonb', { b: 1, a: [1, 2] }, { a: [1, 2], b: 1 }],
      ['timestamp with time zone', '2023-11-14T22:13:20.000Z', new Date('2023-11-14T22:13:20Z')],
    ];
    for (const [type, staged, readBack] of pairs) {
      expect(storedForm(catalogType(type), staged)).toBe(storedForm(catalogType(type), readBack));
    }
    // Without the type, the first four differ: that is the defect the stored form fixes.
    expect(storedForm(undefined, '')).not.toBe(storedForm(undefined, '  '));
    expect(storedForm(undefined, 87.5)).not.toBe(storedForm(undefined, '87.50000'));
  });

  it('a digest with the target types equals for equal stored values and differs for a different value', () => {
    const columns = ['country', 'grade', 'born'];
    const types = ['character(2)', 'numeric(10,5)', 'date'].map(catalogType);
    const staged = rowDigest(key, columns, ['', 87.5, '2023-11-14T22:13:20.000Z'], types);
    expect(rowDigest(key, columns, ['  ', '87.50000', '2023-11-14'], types)).toBe(staged);
    expect(rowDigest(key, columns, ['  ', '87.50001', '2023-11-14'], types)).not.toBe(staged);
    expect(rowDigest(key, columns, ['  ', '87.50000', '2023-11-15'], types)).not.toBe(staged);
    // A value the type refuses is compared as it is, never taken as equal to something else.
    expect(rowDigest(key, columns, ['GBR', '87.50000', '2023-11-14'], types)).not.toBe(rowDigest(key, columns, ['GB', '87.50000', '2023-11-14'], types));
  });
});

describe('digest stability', () => {
  it('gives the digests earlier versions staged (a manifest staged before an upgrade still reconciles)', () => {
    const key = Buffer.alloc(32, 7);
    const types = ['character(3)', 'numeric(10,5)', 'date', 'text'].map(catalogType);
    expect(rowDigest(key, ['country', 'score', 'day', 'note'], ['GB', 87.5, '2023-11-14T22:13:20.000Z', 'ü\u0000x'], types)).toBe('38cb1bf080b55615c94d8c931a3749a78f0979b3a5c1380d687d30795ea6431e');
    expect(rowDigest(key, ['a', 'b'], ['x', null])).toBe('17e4a63bded0a87198fc8922535eda989243475255303c78d13b62cb783b911a');
  });
});
