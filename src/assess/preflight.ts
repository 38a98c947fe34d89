import type { Knex } from 'knex';
import { quarantineAbortReason } from '../core/abort';
import type { CatalogTable } from '../catalog/pg-catalog';
import { compileMapper } from '../core/mapping';
import { withoutSkipped } from '../core/stage-rows';
import { catalogType, type TargetType } from '../core/target-types';
import { keyRanges, type ReadFirst } from '../plan/key-ranges';
import { phaseLevels } from '../plan/order';
import { extractSql, skipAlias } from '../plan/source-sql';
import { batchSizeOf, type EntitySpec, type Plan } from '../plan/types';
import { countByReason, emptyOutcome, forecastBatch, type EntityOutcome, type ReasonCount, settleBatch } from './forecast';
import { targetRefusals } from './target-check';

/** The forecast of one entity: what the migration would load, skip and quarantine, by reason. */
export interface EntityForecast {
  entity: string;
  /** Source rows read (all of them, unless `limited`). */
  rowsRead: number;
  skipped: Record<string, number>;
  wouldLoad: number;
  quarantined: number;
  /** quarantined / (rows read − skipped), as the abort threshold measures it. */
  ratio: number;
  reasons: ReasonCount[];
  /** Read only the first `rowsRead` rows in key order (the source has more): counts are of those rows. */
  limited: boolean;
  /** Milliseconds to read, map and check those rows on this machine. */
  elapsedMs: number;
}

/** Entities in the order the migration loads them: phases in order, parents before children. */
export function loadOrder(plan: Plan): EntitySpec[] {
  return plan.phases.flatMap((p) => phaseLevels(plan, p.name).flat()).map((name) => plan.entities.find((e) => e.name === name)!);
}

/** `Map` whose `get` also answers for parent rows beyond a limited read (they would load, as far as anyone can tell). */
class AssumedLoaded extends Map<string, string> {
  constructor(private readonly outcome: EntityOutcome) {
    super();
  }
  override get(key: string): string | undefined {
    return this.outcome.loaded.get(key) ?? (this.outcome.quarantined.has(key) ? undefined : `assumed:${key}`);
  }
}

export interface PreflightOptions {
  /** Rows read per entity at most (key order); undefined: all. */
  maxRows?: number;
  /** Called after each batch (progress on a terminal). */
  onBatch?: (entity: string, rowsRead: number) => void;
}

/**
 * Runs the plan's entities through the forecast, batch by batch as the migration would cut
 * them: source rows in read-only snapshots, the target asked read-only. `tables`: the target
 * table of each entity, from its catalog.
 */
export async function forecastQuarantine(plan: Plan, source: Knex, target: Knex, tables: ReadonlyMap<string, CatalogTable>, options: PreflightOptions = {}): Promise<EntityForecast[]> {
  const outcomes = new Map<string, EntityOutcome>();
  const limitedEntities = new Set<string>();
  const out: EntityForecast[] = [];
  for (const spec of loadOrder(plan)) {
    const table = tables.get(spec.name);
    if (!table) continue;
    const started = performance.now();
    const mapper = compileMapper(spec);
    const typeOf = (c: string): TargetType | undefined => {
      const col = table.columns.find((x) => x.name === c);
      return col ? catalogType(col.type) : undefined;
    };
    const types = mapper.columns.map(typeOf);
    const keyType = spec.target.key ? typeOf(spec.target.key) : undefined;
    const self = emptyOutcome();
    outcomes.set(spec.name, self);
    // A parent read only in part: its unread rows are assumed to load, not counted as orphans' parents.
    const parents = new Map(outcomes);
    for (const name of limitedEntities) parents.set(name, { ...outcomes.get(name)!, loaded: new AssumedLoaded(outcomes.get(name)!) });
    const read: ReadFirst = async <T>(q: { sql: string; bindings: unknown[] }) => (await source.raw(q.sql, q.bindings as never)).rows[0] as T;
    const filters = spec.source.skip ?? [];
    let limited = false;
    for await (const { range } of keyRanges(read, spec, batchSizeOf(plan, spec), null)) {
      if (!range) continue;
      if (options.maxRows !== undefined && self.rowsRead >= options.maxRows) {
        limited = true;
        break;
      }
      const q = extractSql(spec, mapper.sourceColumns, range);
      const extracted: Record<string, unknown>[] = await source.transaction(async (trx) => (await trx.raw(q.sql, q.bindings as never)).rows, { isolationLevel: 'repeatable read', readOnly: true });
      self.rowsRead += extracted.length;
      const { kept, skipped } = withoutSkipped(extracted, filters, skipAlias);
      for (const [name, n] of Object.entries(skipped)) self.skipped[name] = (self.skipped[name] ?? 0) + n;
      const { candidates, refused } = forecastBatch(spec, mapper, types, kept, parents, self);
      const byTarget = await target.transaction((trx) => targetRefusals(trx, table, mapper.columns, types, candidates.map((c) => c.values)), { readOnly: true });
      settleBatch(self, candidates, refused, byTarget, keyType);
      options.onBatch?.(spec.name, self.rowsRead);
    }
    if (limited) limitedEntities.add(spec.name);
    const considered = self.rowsRead - Object.values(self.skipped).reduce((a, b) => a + b, 0);
    out.push({
      entity: spec.name,
      rowsRead: self.rowsRead,
      skipped: self.skipped,
      wouldLoad: self.loaded.size,
      quarantined: self.quarantined.size,
      ratio: considered > 0 ? self.quarantined.size / considered : 0,
      reasons: countByReason(self),
      limited,
      elapsedMs: Math.round(performance.now() - started),
    });
  }
  return out;
}

/**
 * Why the migration would abort, as its own check words it (the first entity, in load order,
 * whose forecast quarantine crosses the plan's threshold); undefined when it would not. The run
 * holds the threshold against each entity as a whole too (the quarantine-abort-on-whole patch),
 * so where the forecast's quarantine is the run's, the run aborts when this says it would, and only
 * then (sooner: once its share is sure to pass), whatever the order of its batches.
 */
export function wouldAbort(plan: Plan, forecast: readonly EntityForecast[]): string | undefined {
  for (const f of forecast) {
    const processed = f.rowsRead - Object.values(f.skipped).reduce((a, b) => a + b, 0);
    const reason = quarantineAbortReason({ entity: f.entity, processed, quarantined: f.quarantined }, plan.settings.abort.maxQuarantineRatio);
    if (reason) return reason;
  }
  return undefined;
}
