import { sourceKeysOf, targetKeysOf } from '../control/key-map';
import { normalizeValue, rowDigest } from '../core/digest';
import { businessKeyOf } from '../core/mapping';
import { targetRowsJson } from '../core/target-rows';
import { rowsByKeySql } from '../plan/target-sql';
import type { LoadedPlan } from './plan-store';
import { withoutValues } from './errors';

/** A business key's values, from its one-string form (see businessKeyOf). */
const componentsOf = (bk: string, width: number): string[] => (width === 1 ? [bk] : (JSON.parse(bk) as string[]));

/**
 * The target's rows of these business keys (as staged: references as source keys), each with
 * its keyed digest in the target's types, references mapped back to the source keys they were
 * loaded from. What reconcile compares with the digests a stage computed.
 */
export async function readTargetDigests(loaded: LoadedPlan, migrationId: string, entity: string, stagedKeys: readonly string[], digestKey: Uint8Array, what: string): Promise<{ found: [string, string][]; values: Map<string, unknown[]> }> {
  const { spec, mapper } = loaded.entity(entity);
  const types = await loaded.targetTypes(entity);
  const ledger = loaded.plan.target.ledgerSchema;
  const target = { schema: spec.target.schema, table: spec.target.table };
  const refColumns = spec.columns.map((c, i) => ({ c, i })).filter(({ c }) => c.reference);
  const bkWidth = mapper.businessKeyIndexes.length;
  // Business-key parts that are references: their source keys become the parents' target keys.
  const bkRefs = mapper.businessKeyIndexes.map((col, part) => ({ part, entity: spec.columns[col]!.reference?.entity })).filter((x) => x.entity !== undefined);
  const found: [string, string][] = [];
  const values = new Map<string, unknown[]>();
  const bkTypes = mapper.businessKeyIndexes.map((k) => types[k]);
  for (let i = 0; i < stagedKeys.length; i += 20_000) {
    const slice = stagedKeys.slice(i, i + 20_000).map((k) => componentsOf(k, bkWidth));
    for (const { part, entity: parent } of bkRefs) {
      const map = await targetKeysOf(loaded.target, ledger, migrationId, parent!, slice.map((k) => k[part]!));
      for (const k of slice) k[part] = map.get(k[part]!) ?? k[part]!;
    }
    const byKey = rowsByKeySql(target, mapper.columns, spec.target.businessKey, targetRowsJson(spec.target.businessKey, bkTypes, slice), false);
    const rows: Record<string, unknown>[] = await loaded.target
      .raw(byKey.sql, byKey.bindings as never)
      .then((r) => r.rows)
      .catch((err) => withoutValues(what, err));
    // A reference is right when its target key maps back to the source key the row had.
    const back = new Map<number, Map<string, string>>();
    for (const { c, i } of refColumns) {
      const keys = rows.map((r) => r[mapper.columns[i]!]).filter((v) => v !== null && v !== undefined).map((v) => String(normalizeValue(v)));
      back.set(i, await sourceKeysOf(loaded.target, ledger, migrationId, c.reference!.entity, keys));
    }
    for (const row of rows) {
      const vals = mapper.columns.map((c) => row[c]);
      for (const { i } of refColumns) {
        if (vals[i] === null || vals[i] === undefined) continue;
        const key = String(normalizeValue(vals[i]));
        vals[i] = back.get(i)!.get(key) ?? `unmapped target key ${key}`;
      }
      const bk = businessKeyOf(vals, mapper.businessKeyIndexes);
      found.push([bk, rowDigest(digestKey, mapper.columns, vals, types)]);
      values.set(bk, vals);
    }
  }
  return { found, values };
}
