import { Context } from '@temporalio/activity';
import type { EntityTable } from '../../core/followed-changes';
import type { Stores } from '../../stores/stores';
import { followSlot } from '../../stores/slot-follower';
import { withoutValues } from '../../stores/errors';

/** SQLSTATE object_in_use: START_REPLICATION on a slot another session holds. */
const SLOT_IN_USE = '55006';

export function createFollowActivities(stores: Stores) {
  return {
    /**
     * Logical sync: follows the migration's slot over a replication connection for as long as the
     * migration syncs (the workflow cancels it at the end; a killed worker's follower is started
     * again elsewhere after its heartbeat times out). Rounds take the keys it kept instead of
     * decoding the slot's WAL again each (see stores/slot-follower.ts). Ends at once when the plan
     * has no logical sync or the slot is gone (the rounds say so).
     */
    async followChanges(req: { migrationId: string }): Promise<{ followed: boolean }> {
      const loaded = await stores.plans.plan(req.migrationId);
      const sync = loaded.plan.sync;
      if (sync?.mode !== 'logical') return { followed: false };
      const db = loaded.replicationSource();
      const slotGone = async () => ((await db.raw('select 1 from pg_replication_slots where slot_name = ?', [sync.slot])).rows.length === 0);
      if (await slotGone().catch((err) => withoutValues(`sync: the slot ${sync.slot}`, err))) return { followed: false };
      const ctx = Context.current();
      const abort = new AbortController();
      ctx.cancelled.catch(() => abort.abort());
      const tables = new Map<string, EntityTable>(loaded.plan.entities.map((e) => [`${e.source.schema}.${e.source.table}`, { entity: e.name, key: e.source.key }]));
      const follow = async (): Promise<void> => {
        for (;;) {
          try {
            return await followSlot({
              migrationId: req.migrationId,
              sourceUrl: loaded.sourceUrl,
              slot: sync.slot,
              publication: sync.publication,
              from: '0/0', // the slot's confirmed position
              tables,
              followed: stores.followed,
              beat: () => ctx.heartbeat(),
              signal: abort.signal,
            });
          } catch (err) {
            // The slot is busy for a moment (a round without a follower peeking it, or the follower
            // before this one letting go): waited for here, not a failed attempt in status.
            if ((err as { code?: string }).code !== SLOT_IN_USE || abort.signal.aborted) throw err;
            ctx.heartbeat();
            await new Promise((r) => setTimeout(r, 250));
          }
        }
      };
      await follow().catch(async (err) => {
        // The sync's end lets go of the slot (endCapture ends this connection, then drops it): not a failure.
        for (let i = 0; i < 20; i++) {
          if (await slotGone().catch(() => false)) return;
          await new Promise((r) => setTimeout(r, 100));
        }
        withoutValues(`sync: follow the slot ${sync.slot}`, err);
      });
      return { followed: true };
    },
  };
}
