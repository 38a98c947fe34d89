// Business keys and the order entities load in (parents first; a cycle broken with a TODO).
import type { EntityDraft } from './draft-model';
import { businessUniques } from './draft-tables';

export function chooseBusinessKey(e: EntityDraft, notes: string[]): void {
  const rules = new Map(e.columns.filter((c) => c.rule).map((c) => [c.name, c.rule!]));
  const mapped = (col: string) => rules.get(col)?.from !== undefined && !rules.get(col)?.pii && !rules.get(col)?.pii_paths;
  const usable = businessUniques(e.target).filter((u) => u.columns.every(mapped));
  const fedByKey = (u: { columns: string[] }) => u.columns.some((col) => rules.get(col)?.from === e.sourceKey);
  const unique = usable.find(fedByKey) ?? usable[0];
  if (unique) {
    e.businessKey = unique.columns;
    if (!fedByKey(unique)) e.businessKeyComment = `guessed: the unique ${unique.name}`;
    return;
  }
  if (e.target.primaryKey.length && e.target.primaryKey.every(mapped)) {
    e.businessKey = e.target.primaryKey;
    e.businessKeyComment = "guessed: the target's own primary key, fed from the source";
    return;
  }
  const personal = businessUniques(e.target).find((u) => u.columns.every((c) => rules.get(c)?.from !== undefined));
  // A unique some of whose columns nothing feeds yet: the business key once they are mapped.
  const pending = businessUniques(e.target).find((u) => u.columns.some(mapped));
  const fallback =
    e.columns.find((c) => pending?.columns.includes(c.name) && mapped(c.name)) ??
    e.columns.find((c) => c.rule?.from === e.sourceKey && mapped(c.name)) ??
    e.columns.find((c) => c.rule && mapped(c.name));
  if (!fallback) return;
  e.businessKey = [fallback.name];
  e.businessKeyComment = personal
    ? `TODO: the unique ${personal.name} holds personal data, which a business key cannot: add a surrogate (e.g. the legacy id) with a unique index`
    : pending
      ? `TODO: the unique ${pending.name} (${pending.columns.join(', ')}) is the business key once ${pending.columns.filter((c) => !mapped(c)).join(', ')} ${pending.columns.filter((c) => !mapped(c)).length === 1 ? 'is' : 'are'} mapped; ${fallback.name} alone is written so that the plan validates`
      : `TODO: no unique index of ${e.target.name} covers a mapped column: create one on ${fallback.name} (or name the columns rows are upserted by)`;
  notes.push(`${e.name}: no usable unique constraint for a business key: ${fallback.name} written, with a TODO`);
}

/**
 * Entities parents first, level by level as a phase runs them (each level's entities by
 * name); a cycle of references is broken by turning one of them into a TODO.
 */
export function dependencyOrder(entities: EntityDraft[], notes: string[]): EntityDraft[] {
  const out: EntityDraft[] = [];
  const left = new Set(entities);
  const parents = (e: EntityDraft) => e.columns.flatMap((c) => (c.rule?.reference && c.rule.reference !== e.name ? [c.rule.reference] : []));
  while (left.size) {
    const done = new Set(out.map((e) => e.name));
    const ready = [...left].filter((e) => parents(e).every((p) => done.has(p))).sort((a, b) => (a.name < b.name ? -1 : 1));
    if (ready.length) {
      for (const e of ready) {
        out.push(e);
        left.delete(e);
      }
      continue;
    }
    // A cycle: drop a reference between the entities left, a nullable column first.
    const pending = new Set([...left].map((e) => e.name));
    const options = [...left].flatMap((e) =>
      e.columns.filter((c) => c.rule?.reference && c.rule.reference !== e.name && pending.has(c.rule.reference)).map((c) => ({ e, c, nullable: !e.target.columns.find((t) => t.name === c.name)?.notNull })),
    );
    const drop = options.find((o) => o.nullable) ?? options[0]!;
    notes.push(`${drop.e.name}.${drop.c.name}: its reference to ${drop.c.rule!.reference} closes a cycle: left out (load in two steps, or set it after)`);
    drop.c.comment = `TODO: references ${drop.c.rule!.reference}, which references back: left out to break the cycle`;
    delete drop.c.rule;
  }
  return out;
}
