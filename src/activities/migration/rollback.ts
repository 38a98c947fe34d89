import { DeleteObjectCommand, DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import { CONTROL_SCHEMA } from '../../control/schema';
import { openJson } from '../../crypto/seal-json';
import { purgeVaultEntries } from '../../crypto/vault';
import { MigrationContext } from './context';

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    /* not in an activity */
  }
}

export function createRollbackActivities(ctx: MigrationContext) {
  return {
    /**
     * Undoes an entity from the ledger: deletes the rows this migration inserted and restores
     * the pre-images of rows it updated, a chunk per transaction, the ledger entries going with
     * their rows (so a retry continues where it stopped). Then forgets its key map.
     */
    async unloadEntity(req: { migrationId: string; entity: string }): Promise<{ deleted: number; restored: number }> {
      const loaded = await ctx.plan(req.migrationId);
      const { spec } = loaded.entity(req.entity);
      const ledger = loaded.plan.target.ledgerSchema;
      const table = `${spec.target.schema}.${spec.target.table}`;
      const bkColumns = spec.target.businessKey;
      const vaultKey = await ctx.deps.keys.get('vault');
      const tally = { deleted: 0, restored: 0 };
      const exists = await loaded.target.schema.withSchema(ledger).hasTable('ledger');
      if (!exists) return tally;
      for (;;) {
        const more = await loaded.target.transaction(async (trx) => {
          const entries = await trx(`${ledger}.ledger`).where({ migration_id: req.migrationId, target_table: table }).orderBy('business_key').limit(1000).forUpdate();
          if (!entries.length) return false;
          const keyOf = (bk: string): string[] => (bkColumns.length === 1 ? [bk] : (JSON.parse(bk) as string[]));
          const inserted = entries.filter((e) => e.action === 'inserted').map((e) => keyOf(e.business_key));
          if (inserted.length) {
            const q = trx(table).delete();
            tally.deleted += await (bkColumns.length === 1 ? q.whereIn(bkColumns[0]!, inserted.map((k) => k[0]!)) : q.whereIn(bkColumns, inserted));
          }
          for (const e of entries.filter((x) => x.action === 'updated')) {
            const pre = openJson<Record<string, unknown>>(e.pre_image, vaultKey, `preimage:${req.migrationId}:${table}:${e.business_key}`, 'pre-image');
            const key = keyOf(e.business_key);
            const where = Object.fromEntries(bkColumns.map((c, i) => [c, key[i]]));
            const values = Object.fromEntries(Object.entries(pre).filter(([c]) => !bkColumns.includes(c) && c !== spec.target.key));
            tally.restored += await trx(table).where(where).update(values);
          }
          await trx(`${ledger}.ledger`).where({ migration_id: req.migrationId, target_table: table }).whereIn('business_key', entries.map((e) => e.business_key)).delete();
          return true;
        });
        heartbeat(tally);
        if (!more) break;
      }
      // Objects it copied into target buckets.
      for (;;) {
        const objects = await loaded.target(`${ledger}.files`).where({ migration_id: req.migrationId, entity: req.entity }).limit(1000);
        if (!objects.length) break;
        for (const o of objects) await ctx.deps.s3.send(new DeleteObjectCommand({ Bucket: o.bucket, Key: o.object_key }));
        await loaded.target(`${ledger}.files`).where({ migration_id: req.migrationId, entity: req.entity }).whereIn('object_key', objects.map((o) => o.object_key)).delete();
        tally.deleted += objects.length;
        heartbeat(tally);
      }
      await loaded.target(`${ledger}.key_map`).where({ migration_id: req.migrationId, entity: req.entity }).delete();
      const batchIds = (await ctx.deps.control(`${CONTROL_SCHEMA}.batches`).select('batch_id').where({ migration_id: req.migrationId, entity: req.entity })).map((b) => b.batch_id as string);
      for (let i = 0; i < batchIds.length; i += 5000) await loaded.target(`${ledger}.batch_loads`).whereIn('batch_id', batchIds.slice(i, i + 5000)).delete();
      return tally;
    },

    /** Deletes every object the migration staged (their wrapped per-object data keys go with them). */
    async deleteStaged(req: { migrationId: string }): Promise<{ deleted: number }> {
      const loaded = await ctx.plan(req.migrationId);
      const prefix = `${loaded.plan.staging.prefix}/${req.migrationId}/`;
      let deleted = 0;
      for (;;) {
        const listed = await ctx.deps.s3.send(new ListObjectsV2Command({ Bucket: loaded.bucket, Prefix: prefix, MaxKeys: 1000 }));
        if (!listed.Contents?.length) return { deleted };
        await ctx.deps.s3.send(new DeleteObjectsCommand({ Bucket: loaded.bucket, Delete: { Objects: listed.Contents.map((o) => ({ Key: o.Key! })) } }));
        deleted += listed.Contents.length;
        heartbeat({ deleted });
      }
    },

    /** Deletes the vault entries this migration created; entries another migration also uses pass to it. */
    async purgeVault(req: { migrationId: string }): Promise<{ purged: number; handedOver: number }> {
      return purgeVaultEntries(ctx.deps.control, req.migrationId, (purged) => heartbeat({ purged }));
    },

    /** Records an operator's decision at a gate, with the time it was taken. */
    async recordApproval(req: { migrationId: string; phase: string; approver: string; decision: 'approve' | 'reject' }): Promise<{ decidedAt: string }> {
      await ctx.deps.control(`${CONTROL_SCHEMA}.approvals`)
        .insert({ migration_id: req.migrationId, phase: req.phase, approver: req.approver, decision: req.decision })
        .onConflict(['migration_id', 'phase'])
        .merge({ approver: req.approver, decision: req.decision, decided_at: ctx.deps.control.fn.now() });
      const row = await ctx.deps.control(`${CONTROL_SCHEMA}.approvals`).where({ migration_id: req.migrationId, phase: req.phase }).first();
      return { decidedAt: new Date(row.decided_at).toISOString() };
    },
  };
}
