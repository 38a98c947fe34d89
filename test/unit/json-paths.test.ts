import { clearTargetsOf, tokensToOpen, withClearValues } from '../../src/core/detokenize';
import { compileMapper } from '../../src/core/mapping';
import { mapRows, tokenizeRows } from '../../src/core/stage-rows';
import { valueId } from '../../src/core/token-assignment';
import type { EntitySpec } from '../../src/plan/types';

/** An xAPI statement whose actor is a Group: its members' mboxes are a list under one declared path. */
const spec: EntitySpec = {
  name: 'statements',
  source: { schema: 'public', table: 's', key: 'id' },
  target: { schema: 'public', table: 's', businessKey: ['sid'] },
  columns: [
    { name: 'sid', from: ['id'], transform: { kind: 'copy' } },
    {
      name: 'statement',
      from: ['doc'],
      transform: { kind: 'json' },
      piiPaths: [
        { path: ['actor', 'member', 'mbox'], kind: 'email' },
        { path: ['context', 'aliases'], kind: 'name' },
        { path: ['context', 'parent', '0', 'name'], kind: 'name' },
      ],
      protect: 'detokenize',
    },
  ],
};
const doc = {
  actor: { objectType: 'Group', member: [{ mbox: 'mailto:ada@example.org' }, { mbox: 'mailto:bo@example.org' }, { name: 'no mbox' }] },
  context: { aliases: ['Ada L.', 'Bo'], parent: [{ name: 'Cy' }, { name: 'kept: only index 0 is declared' }] },
};

describe('personal data at JSON paths through arrays', () => {
  const mapper = compileMapper(spec);
  const { mapped, personal } = mapRows(spec, mapper, [{ id: 1, doc: JSON.stringify(doc) }]);
  const tokens = new Map(personal.map((p) => [valueId(p.kind, p.value), `tok:${p.value.length}:${p.kind}:${personal.indexOf(p)}`]));
  const { rows } = tokenizeRows(spec, mapper, mapped, tokens, () => 'd', (_k, v) => [...v]);

  it('finds every member of a list (and every string of a list at the path end), and an indexed element', () => {
    expect(personal.map((p) => [p.kind, p.value])).toEqual([
      ['email', 'mailto:ada@example.org'],
      ['email', 'mailto:bo@example.org'],
      ['name', 'Ada L.'],
      ['name', 'Bo'],
      ['name', 'Cy'],
    ]);
  });

  it('stages tokens in their place, no personal value left in the staged document, and the load puts them back', () => {
    const staged = JSON.stringify(rows[0]);
    for (const p of personal) expect(staged.includes(p.value)).toBe(false);
    expect(staged).toContain('no mbox');
    expect(staged).toContain('kept: only index 0 is declared');
    const t = clearTargetsOf(spec);
    const open = tokensToOpen(rows, t);
    expect(open.size).toBe(5);
    const clear = new Map(personal.map((p) => [tokens.get(valueId(p.kind, p.value))!, p.value]));
    expect(withClearValues(rows[0]!, t, clear)[1]).toEqual(doc);
  });
});
