import type { EntitySpec, Plan } from './types';

/** The entities an entity references (its parents). */
export function parentsOf(entity: EntitySpec): string[] {
  return [...new Set(entity.columns.flatMap((c) => (c.reference ? [c.reference.entity] : [])))];
}

/**
 * Entities of a phase grouped in levels: every entity comes after the parents it references,
 * and the entities of one level are independent of each other (they may run in parallel).
 * Parents in earlier phases are already loaded and do not count.
 */
export function phaseLevels(plan: Plan, phaseName: string): string[][] {
  const phase = plan.phases.find((p) => p.name === phaseName);
  if (!phase) throw new Error(`no phase ${phaseName}`);
  const inPhase = new Set(phase.entities);
  const pending = new Map(phase.entities.map((name) => [name, parentsOf(plan.entities.find((e) => e.name === name)!).filter((p) => inPhase.has(p) && p !== name)]));
  const levels: string[][] = [];
  const done = new Set<string>();
  while (pending.size) {
    const ready = [...pending].filter(([, parents]) => parents.every((p) => done.has(p))).map(([name]) => name);
    if (!ready.length) throw new Error(`phase ${phaseName}: entities ${[...pending.keys()].join(', ')} reference each other in a cycle`);
    levels.push(ready);
    for (const name of ready) {
      pending.delete(name);
      done.add(name);
    }
  }
  return levels;
}
