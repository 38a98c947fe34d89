import { keysSql } from '../../plan/source-sql';
import { withoutValues } from '../../stores/errors';
import type { PhaseReconcile, TableChecksum } from '../../shared/migration';
import type { Stores } from '../../stores/stores';
import { withHeartbeat } from '../../stores/activity-runtime';
import { anythingLedgered } from '../../control/ledger';
import { keyMapSourceKeys } from '../../control/key-map';

export function createPhaseActivities(stores: Pick<Stores, 'plans' | 'quarantine'>) {
  return {
    /**
     * Whole-entity checks after a phase: source keys against the key map in both directions
     * (missing: in the source, neither loaded nor quarantined; extra: loaded, gone from the
     * source), every reference resolving to a row of its parent table, and a checksum.
     */
    async reconcilePhase(req: { migrationId: string; phase: string; entities: string[] }): Promise<PhaseReconcile> {
      const loaded = await stores.plans.plan(req.migrationId);
      const ledger = loaded.plan.target.ledgerSchema;
      const result: PhaseReconcile = { phase: req.phase, entities: [], clean: true };
      for (const name of req.entities) {
        const { spec } = loaded.entity(name);
        const stats = await withHeartbeat({ phase: 'reconcile-phase', entity: name }, async () => {
          const mapped = new Set<string>();
          for await (const page of keyMapSourceKeys(loaded.target, ledger, req.migrationId, name)) for (const k of page) mapped.add(k);
          const quarantined = await stores.quarantine.sourceKeys(req.migrationId, name);
          let sourceRows = 0;
          let missing = 0;
          const skipped: Record<string, number> = {};
          const sampleMissing: string[] = [];
          for (let after: string | null = null; ; ) {
            const q = keysSql(spec, after, 20_000);
            const page: { key: string; skipped: string | null }[] = await loaded.source
              .transaction(async (trx) => (await trx.raw(q.sql, q.bindings as never)).rows, { readOnly: true })
              .catch((err) => withoutValues(`reconcile ${name}: read the source keys`, err));
            for (const r of page) {
              sourceRows++;
              if (r.skipped !== null) {
                // Left out by a skip filter: neither loaded nor missing (a row loaded before the filter stays extra).
                skipped[r.skipped] = (skipped[r.skipped] ?? 0) + 1;
                continue;
              }
              if (mapped.delete(r.key)) continue;
              if (!quarantined.has(r.key)) {
                missing++;
                if (sampleMissing.length < 10) sampleMissing.push(r.key);
              }
            }
            if (page.length < 20_000) break;
            after = page[page.length - 1]!.key;
          }
          const extra = mapped.size; // loaded, but no longer in the source
          const references: { column: string; parent: string; dangling: number }[] = [];
          for (const col of spec.columns.filter((c) => c.reference)) {
            const parent = loaded.entity(col.reference!.entity).spec;
            const dangling = await loaded.target.raw(
              `select count(*)::int as n from ??.?? c where c.?? is not null and not exists (select 1 from ??.?? p where p.?? = c.??)`,
              [spec.target.schema, spec.target.table, col.name, parent.target.schema, parent.target.table, parent.target.key!, col.name],
            );
            references.push({ column: col.name, parent: parent.name, dangling: dangling.rows[0].n });
          }
          return { sourceRows, missing, extra, sampleMissing, sampleExtra: [...mapped].slice(0, 10), references, quarantined: quarantined.size, ...(spec.source.skip?.length ? { skipped } : {}) };
        });
        const checksum = await tableChecksum(loaded.target, spec.target.schema, spec.target.table);
        const clean = stats.missing === 0 && stats.extra === 0 && stats.references.every((r) => r.dangling === 0);
        if (!clean) result.clean = false;
        result.entities.push({ entity: name, ...stats, checksum, clean });
      }
      return result;
    },

    /**
     * Row count and an order-independent checksum of every target table the plan writes. With
     * `before`, the checksums a rollback must give back: taken now while the ledger holds nothing
     * of this migration, else those taken before its first ledgered write (a later run of the same
     * plan starts on a target that holds the first run's rows, and the rollback undoes them all).
     */
    async checksumTargets(req: { migrationId: string; before?: boolean }): Promise<TableChecksum[]> {
      const loaded = await stores.plans.plan(req.migrationId);
      const out: TableChecksum[] = [];
      for (const e of loaded.plan.entities) {
        out.push({ table: `${e.target.schema}.${e.target.table}`, ...(await withHeartbeat({ checksum: e.name }, () => tableChecksum(loaded.target, e.target.schema, e.target.table))) });
      }
      if (!req.before) return out;
      const ledger = loaded.plan.target.ledgerSchema;
      return loaded.target.transaction(async (trx) => {
        if (!(await anythingLedgered(trx, ledger, req.migrationId))) {
          await trx(`${ledger}.checksums_before`).insert({ migration_id: req.migrationId, checksums: JSON.stringify(out) }).onConflict('migration_id').merge(['checksums', 'taken_at']);
          return out;
        }
        const stored = await trx(`${ledger}.checksums_before`).where({ migration_id: req.migrationId }).first();
        return stored ? (stored.checksums as TableChecksum[]) : out;
      });
    },
  };
}

async function tableChecksum(db: import('knex').Knex, schema: string, table: string): Promise<{ rows: number; md5: string }> {
  const r = await db.raw(`select count(*)::int as rows, coalesce(md5(string_agg(t::text, '|' order by t::text)), md5('')) as md5 from ??.?? t`, [schema, table]);
  return { rows: r.rows[0].rows, md5: r.rows[0].md5 };
}
