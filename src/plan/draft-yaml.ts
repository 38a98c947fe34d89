// The draft as a plan object and as commented YAML text.
import type { CatalogTable } from '../catalog/pg-catalog';
import type { DraftInput, EntityDraft, Rule } from './draft-model';

function ruleObject(r: Rule): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (r.from !== undefined) o.from = r.from;
  if (r.constant !== undefined) o.constant = r.constant;
  if (r.transform !== undefined) o.transform = r.transform;
  if (r.pii) o.pii = r.pii;
  if (r.pii_paths) o.pii_paths = r.pii_paths;
  if (r.reference) o.reference = r.reference;
  return o;
}

function sourceObject(e: EntityDraft): Record<string, unknown> {
  return { ...(e.source.schema !== 'public' ? { schema: e.source.schema } : {}), table: e.source.name, key: e.sourceKey };
}

function targetObject(e: EntityDraft): Record<string, unknown> {
  return { ...(e.target.schema !== 'public' ? { schema: e.target.schema } : {}), table: e.target.name, ...(e.targetKey ? { key: e.targetKey } : {}), business_key: e.businessKey };
}

export function planObject(input: DraftInput, entities: EntityDraft[]): object {
  return {
    version: 1,
    name: input.name,
    source: { url_env: input.sourceUrlEnv },
    target: { url_env: input.targetUrlEnv },
    ...(entities.length ? { phases: [{ name: 'all', entities: entities.map((e) => e.name) }] } : {}),
    entities: Object.fromEntries(
      entities.map((e) => [e.name, { source: sourceObject(e), target: targetObject(e), columns: Object.fromEntries(e.columns.filter((c) => c.rule).map((c) => [c.name, ruleObject(c.rule!)])) }]),
    ),
  };
}

const RESERVED = /^(true|false|yes|no|on|off|y|n|null|~)$/i;

/** A scalar as YAML writes it in flow style: plain when that reads back as the same string, else double-quoted. */
function scalar(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  const s = String(v);
  return /^[A-Za-z_][A-Za-z0-9_./-]*$/.test(s) && !RESERVED.test(s) ? s : JSON.stringify(s);
}

/** A value in YAML flow style: `{ a: 1, b: [x, y] }`. */
function flow(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  if (v !== null && typeof v === 'object') return `{ ${Object.entries(v).map(([k, x]) => `${scalar(k)}: ${flow(x)}`).join(', ')} }`;
  return scalar(v);
}

/** A comment's text on one line. */
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

export function planYaml(input: DraftInput, entities: EntityDraft[], unpairedSource: CatalogTable[], unpairedTarget: CatalogTable[]): string {
  const schemas = (tables: CatalogTable[]) => [...new Set(tables.map((t) => t.schema))].join(', ') || 'public';
  const lines = [
    `# Drafted by \`cutover plan draft\` from the catalogs of the source (schema ${schemas(input.source)}) and the target (schema ${schemas(input.target)}).`,
    '# A proposal to edit, not a plan to run as it is: check every `guessed` and `TODO` comment, then',
    '# `cutover plan validate` it. Tables, keys, references and transforms were inferred from names, types',
    '# and sampled values; no sampled value is written here but the codes of enum maps.',
    input.personal
      ? '# Personal data: `pii` is marked where discovery found it in sampled values; a column it missed goes in clear.'
      : '# Personal data: NOT assessed. Mark every personal column: pii: email | name | phone | text.',
    '# Settings are the defaults (batch_size 1000, parallelism 2); see README.md, "Every field".',
    `version: 1`,
    `name: ${scalar(input.name)}`,
    `source: ${flow({ url_env: input.sourceUrlEnv })}`,
    `target: ${flow({ url_env: input.targetUrlEnv })}`,
  ];
  if (entities.length) {
    lines.push('', '# One phase, parents before the entities that reference them. Split it to gate a phase (gate: true).', 'phases:', '  - name: all', `    entities: ${flow(entities.map((e) => e.name))}`);
  }
  lines.push('', 'entities:');
  if (!entities.length) lines.push('  {}   # TODO: no source table could be paired with a target table');
  for (const e of entities) {
    for (const h of e.header) lines.push(`  # ${oneLine(h)}`);
    lines.push(`  ${e.name}:`, `    source: ${flow(sourceObject(e))}`);
    const target = `    target: ${flow(targetObject(e))}`;
    lines.push(e.businessKeyComment ? `${target}   # ${oneLine(e.businessKeyComment)}` : target, '    columns:');
    const body = e.columns.map((c) => (c.rule ? `      ${scalar(c.name)}: ${flow(ruleObject(c.rule))}` : `      # ${c.name}:`));
    const width = Math.min(90, Math.max(...body.map((b, i) => (e.columns[i]!.comment ? b.length : 0))));
    body.forEach((b, i) => {
      const comment = e.columns[i]!.comment;
      lines.push(comment ? `${b.padEnd(width)}   # ${oneLine(comment)}` : b);
    });
    lines.push('');
  }
  if (unpairedSource.length || unpairedTarget.length) {
    lines.push('# Not drafted (no table on the other side matched):');
    if (unpairedSource.length) lines.push(`#   source tables: ${unpairedSource.map((t) => t.name).join(', ')}`);
    if (unpairedTarget.length) lines.push(`#   target tables: ${unpairedTarget.map((t) => t.name).join(', ')}`);
  }
  while (lines[lines.length - 1] === '') lines.pop();
  return `${lines.join('\n')}\n`;
}
