import { randomBytes } from 'node:crypto';
import { canShape, shapedTokenKey, shapeTokens, unshapeTokens } from '../../src/core/shaped-tokens';
import { compileMapper } from '../../src/core/mapping';
import { mapRows, tokenizeRows } from '../../src/core/stage-rows';
import { valueId } from '../../src/core/token-assignment';
import { emptyOutcome, forecastBatch } from '../../src/assess/forecast';
import { parsePlan } from '../../src/plan/load';

const tokenKey = randomBytes(32);

describe('shaped tokens (FF1 over the digits)', () => {
  it('keep the shape: same length, every non-digit in place, other digits', () => {
    const values = ['+44 20 7946 0123', '(555) 010-9999', '0049 30 1234567', '+1-202-555-0143'];
    const tokens = shapeTokens(shapedTokenKey(tokenKey), 'phone', values);
    tokens.forEach((t, i) => {
      const v = values[i]!;
      expect(t.length).toBe(v.length);
      expect(t.replace(/[0-9]/g, '#')).toBe(v.replace(/[0-9]/g, '#'));
      expect(t).not.toBe(v);
    });
    expect(unshapeTokens(shapedTokenKey(tokenKey), 'phone', tokens)).toEqual(values);
  });

  it('stand for exactly one value: 20,000 numbers, 20,000 tokens, each opening to its own', () => {
    const values = Array.from({ length: 20_000 }, (_, i) => `+44 20 79${String(i).padStart(6, '0')}`);
    const tokens = shapeTokens(shapedTokenKey(tokenKey), 'phone', values);
    expect(new Set(tokens).size).toBe(values.length);
    expect(unshapeTokens(shapedTokenKey(tokenKey), 'phone', tokens)).toEqual(values);
    // The same value, the same token, in any batch; another key, other tokens.
    expect(shapeTokens(shapedTokenKey(tokenKey), 'phone', [values[7]!])).toEqual([tokens[7]]);
    expect(shapeTokens(shapedTokenKey(randomBytes(32)), 'phone', [values[7]!])).not.toEqual([tokens[7]]);
  });

  it('refuse values below the minimum domain of 10^6', () => {
    expect(canShape('12345')).toBe(false);
    expect(canShape('+1 23456')).toBe(true);
    expect(() => shapeTokens(shapedTokenKey(tokenKey), 'phone', ['ext 12'])).toThrow(/at least 6 digits/);
  });
});

/** A one-entity plan keyed on `id`, with these column lines besides. */
const planWith = (...columns: string[]) =>
  parsePlan(`
version: 1
name: shaped
source: { url_env: S }
target: { url_env: T }
staging: { prefix: p }
entities:
  users:
    source: { table: users, key: id }
    target: { table: people, business_key: [id] }
    columns:
      id: { from: id }
${columns.map((c) => `      ${c}`).join('\n')}
`);

describe('staging with token: format_preserving', () => {
  const plan = planWith('phone: { from: phone, pii: phone, protect: keep_token, token: format_preserving }', 'mobile: { from: mobile, pii: phone, protect: keep_token }');
  const spec = plan.entities[0]!;
  const mapper = compileMapper(spec);

  it('give long enough phones shaped tokens without the vault; short ones and other columns still go to the vault', () => {
    const rows = [
      { id: 1, phone: '+44 20 7946 0001', mobile: '+44 77 0000 0001' },
      { id: 2, phone: '123', mobile: null },
    ];
    const { mapped, personal } = mapRows(spec, mapper, rows);
    expect(personal.map((p) => p.value).sort()).toEqual(['+44 77 0000 0001', '123']);
    const vault = new Map(personal.map((p) => [valueId(p.kind, p.value), `tok_${p.value.length}`]));
    const calls: string[][] = [];
    const shape = (kind: 'phone' | 'email' | 'name' | 'text', values: readonly string[]) => {
      calls.push([...values]);
      return shapeTokens(shapedTokenKey(tokenKey), kind, values);
    };
    const out = tokenizeRows(spec, mapper, mapped, vault, () => 'd', shape);
    expect(calls).toEqual([['+44 20 7946 0001']]);
    expect(out.rows[0]![1]).toBe(shapeTokens(shapedTokenKey(tokenKey), 'phone', ['+44 20 7946 0001'])[0]);
    expect(out.rows[0]![2]).toBe('tok_16');
    expect(out.rows[1]![1]).toBe('tok_3');
  });

  it('are forecast by assess as their values (same shape and length), without a key', () => {
    const out = forecastBatch(spec, mapper, [], [{ id: 1, phone: '+44 20 7946 0001', mobile: null }], new Map(), emptyOutcome());
    expect(out.refused).toEqual([]);
  });

  it('is refused on a column the target gets in clear, and on kinds without digits', () => {
    const bad = (column: string) => () => planWith(column);
    expect(bad('phone: { from: phone, pii: phone, token: format_preserving }')).toThrow(/entities\.users\.columns\.phone\.token: format_preserving tokens are for a column the target keeps as tokens: add protect: keep_token/);
    expect(bad('email: { from: email, pii: email, protect: keep_token, token: format_preserving }')).toThrow(/entities\.users\.columns\.email\.token: format_preserving tokens need values of digits \(pii: phone\): email values have no domain/);
  });
});
