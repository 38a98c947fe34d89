import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { Knex } from 'knex';
import { syncSlotWaitSeconds } from '../../config';
import { keyMapCount, keyMapEntries, keyMapSourceKeys } from '../../control/key-map';
import { UNKNOWN_SOURCE_KEY } from '../../core/reconcile';
import type { UnverifiedRow } from '../../stores/verification-log';
import { compareLsn, PgoutputDecoder } from '../../core/pgoutput';
import { batchSizeOf, DEFAULT_KEY_SET_INTERVAL_SECONDS, type EntitySpec } from '../../plan/types';
import { changeColumnSql, changedKeysSql, extractByKeysSql, keptCountSql, keyColumnSql, keysSql, skipAlias, TIMESTAMP_TYPE_OIDS } from '../../plan/source-sql';
import type { CapturedRound, FinalReconcile, StagedBatch, SyncPositions } from '../../shared/migration';
import { mapRows, tokenizeRows, withoutSkipped } from '../../core/stage-rows';
import { rowDigest } from '../../core/digest';
import { valueId } from '../../core/token-assignment';
import { readTargetDigests } from '../../stores/target-digests';
import { formatAge } from '../../doctor/sync-rows';
import type { LoadedPlan } from '../../stores/plan-store';
import type { Stores } from '../../stores/stores';
import { withHeartbeat } from '../../stores/activity-runtime';
import { SafeError, withoutValues } from '../../stores/errors';
import { recordSyncLag } from '../../stores/metrics';
import { stageExtracted } from '../../steps/stage-extracted';
import { compareKeySets } from '../../steps/compare-key-sets';
import { readOnly } from '../../stores/source-snapshot';
import { shapedTokenKey, shapeTokens } from '../../core/shaped-tokens';

/** Changes one logical round takes at most (it ends at a transaction boundary past this): the rest is the next round's. */
const MAX_CHANGES_PER_ROUND = 50_000;

/** A sync round's batch of one entity: plan hash + entity + round + part. */
export function syncBatchIdOf(planHash: string, entity: string, round: number, part: number): string {
  return createHash('sha256').update(JSON.stringify([planHash, entity, 'sync', round, part])).digest('hex').slice(0, 24);
}



/** The source's clock, epoch seconds: poll sync's watermark. */
async function sourceClock(loaded: LoadedPlan): Promise<number> {
  const r = await readOnly(loaded, 'sync: read the source clock', (trx) => trx.raw('select extract(epoch from clock_timestamp())::float8 as now'));
  return Number(r.rows[0].now);
}

/** Whether each entity's change column holds a date or time (else an epoch number), per process. */
const timestampColumns = new WeakMap<EntitySpec, boolean>();
async function isTimestamp(loaded: LoadedPlan, spec: EntitySpec): Promise<boolean> {
  const known = timestampColumns.get(spec);
  if (known !== undefined) return known;
  const q = changeColumnSql(spec);
  const r = await readOnly(loaded, `sync ${spec.name}: read the change column ${spec.source.change!.column}`, (trx) => trx.raw(q.sql, q.bindings as never));
  const ts = TIMESTAMP_TYPE_OIDS.includes((r as { fields: { dataTypeID: number }[] }).fields[0]!.dataTypeID);
  timestampColumns.set(spec, ts);
  return ts;
}

/** The type of each entity's source key as the catalog names it, per process: keys are looked up in it (the key's index serves). */
const keyTypes = new WeakMap<EntitySpec, string>();
async function keyTypeOf(loaded: LoadedPlan, spec: EntitySpec): Promise<string> {
  const known = keyTypes.get(spec);
  if (known !== undefined) return known;
  const q = keyColumnSql(spec);
  const r = await readOnly(loaded, `sync ${spec.name}: read the key column ${spec.source.key}`, (trx) => trx.raw(q.sql, q.bindings as never));
  const oid = (r as { fields: { dataTypeID: number }[] }).fields[0]!.dataTypeID;
  const type = (await readOnly(loaded, `sync ${spec.name}: the key's type`, (trx) => trx.raw('select format_type(?::oid, null) as t', [oid]))).rows[0].t as string;
  keyTypes.set(spec, type);
  return type;
}

/** The slot's WAL held back and how far it has confirmed. */
async function slotState(db: Knex, slot: string): Promise<{ retainedWalBytes: number; confirmed: string | null; active: boolean; activePid: number | null } | undefined> {
  const r = await db.raw(
    `select pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 as retained, confirmed_flush_lsn::text as confirmed, active, active_pid from pg_replication_slots where slot_name = ?`,
    [slot],
  );
  const row = r.rows[0] as { retained: number | null; confirmed: string | null; active: boolean; active_pid: number | null } | undefined;
  return row ? { retainedWalBytes: Math.max(0, Math.round(row.retained ?? 0)), confirmed: row.confirmed, active: row.active, activePid: row.active_pid } : undefined;
}

/** How long a round waits for the slot's follower to have kept the changes up to its position (heartbeating), before it fails and is retried. */
const FOLLOW_WAIT_MS = 60_000;

/** Waits until the follower has kept every change that commits before `upTo`. */
async function followedUpTo(stores: Stores, migrationId: string, slot: string, upTo: string): Promise<void> {
  const deadline = Date.now() + FOLLOW_WAIT_MS;
  for (;;) {
    const state = await stores.followed.state(migrationId);
    if (state?.followedTo && compareLsn(state.followedTo, upTo) >= 0) return;
    if (Date.now() > deadline) throw new SafeError(`sync: the follower of slot ${slot} has not kept the changes up to ${upTo} in ${FOLLOW_WAIT_MS / 1000} s (kept up to ${state?.followedTo ?? 'nothing yet'}); the round is tried again`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const SLOT_POLL_MS = 1000;

/** One attempt of startCapture waits this long for the slot (heartbeating), then fails saying what it waits for; the next attempt waits again (CUTOVER_SYNC_SLOT_WAIT_SECONDS, see config.ts). */
function slotWaitMs(): number {
  return syncSlotWaitSeconds() * 1000;
}

/**
 * Slot creations this worker has started, by source and slot. A creation outlives the attempt that
 * started it (an attempt that stops waiting leaves it going: a new one would wait for the same
 * transactions, and more), so the next attempt waits for it rather than starting another.
 */
const creations = new Map<string, { done: boolean; failed?: unknown; settled: Promise<void> }>();

/** SQLSTATEs of a creation that ended without the slot for a reason the next try may not meet: cancelled, terminated, connection lost. */
const CREATION_RETRIED = /^(57014|57P01|57P02|57P03|08...)$/;

const formatWait = (seconds: number | null) => (seconds === null ? 'for an unknown time' : formatAge(seconds));

interface SlotNow {
  slot_type: string;
  plugin: string | null;
  database: string | null;
  active_pid: number | null;
  confirmed: string | null;
  application_name: string | null;
}

/**
 * What the slot waits for, in words an operator acts on: the session creating it and the
 * transaction it waits for (pid, xid, state, age, database; never a query), or the session using it.
 */
async function slotWait(db: Knex, slot: string, s: SlotNow): Promise<string> {
  if (s.confirmed !== null && s.active_pid !== null) {
    return `sync: slot ${slot} is in use by pid ${s.active_pid}${s.application_name ? ` (${s.application_name})` : ''}: the capture waits for it to be released (the full load has not started)`;
  }
  const creator = s.active_pid === null ? 'its creation' : `its creation (pid ${s.active_pid}${s.application_name ? `, ${s.application_name}` : ''})`;
  const head = `sync: slot ${slot} is not consistent yet, so the full load has not started: ${creator}`;
  if (s.active_pid === null) return `${head} ended without finishing it`;
  // The creation waits for each transaction that had written when it began (a lock on its xid).
  const holders: { xid: string; pid: number | null; state: string | null; datname: string | null; age: number | null; prepared_age: number | null }[] = (
    await db.raw(
      `select w.transactionid::text as xid, h.pid, a.state, a.datname, extract(epoch from now() - a.xact_start)::float8 as age,
         extract(epoch from now() - p.prepared)::float8 as prepared_age
       from pg_locks w
       join pg_locks h on h.locktype = 'transactionid' and h.transactionid = w.transactionid and h.granted
       left join pg_stat_activity a on a.pid = h.pid
       left join pg_prepared_xacts p on p.transaction = w.transactionid
       where w.pid = ? and w.locktype = 'transactionid' and not w.granted`,
      [s.active_pid],
    )
  ).rows;
  const h = holders[0];
  if (!h) return `${head} reads the WAL for a point where no transaction that wrote before it is still open`;
  if (h.pid === null) {
    return `${head} waits for prepared transaction ${h.xid}${h.prepared_age !== null ? ` (prepared ${formatWait(h.prepared_age)} ago)` : ''} to end: COMMIT PREPARED or ROLLBACK PREPARED it (pg_prepared_xacts names it)`;
  }
  const what = [h.state, h.age !== null ? `open ${formatWait(h.age)}` : null, h.datname ? `on database ${h.datname}` : null].filter(Boolean).join(', ');
  return `${head} waits for transaction ${h.xid} of pid ${h.pid}${what ? ` (${what})` : ''} to end: the full load starts once it has; to go on now, have it commit or roll back, or end it: select pg_terminate_backend(${h.pid})`;
}

/** Sleeps `ms` or until `until` settles, or throws at once if the activity is cancelled meanwhile. */
async function sleepUnlessCancelled(activity: Context | undefined, ms: number, until?: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([new Promise((r) => (timer = setTimeout(r, ms))), ...(until ? [until] : []), ...(activity ? [activity.cancelled] : [])]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The slot, once it exists and is consistent; its position (confirmed_flush_lsn). A slot's creation
 * waits for every transaction that had written when it began (it holds an xid): until then the slot
 * exists but has no position, and a change committed meanwhile would be in neither the full load
 * (whose snapshots would be older) nor the stream (which starts after it). So this returns only
 * once the slot has its position and no session is still creating it, heartbeating while it waits
 * with what it waits for; after `slotWaitMs` it fails the attempt with that (`cutover status` shows
 * an attempt's failure), and the next attempt waits again.
 *
 * A slot another session is still creating (a first attempt Temporal gave up on, its session
 * still waiting in pg_create_logical_replication_slot) is waited for, never accepted, and not
 * ended: its creation waits for the same transactions a new one would (and a new one for any
 * begun since), and once done the slot is as good as one created here. A cancelled capture ends a
 * creation by Cutover, so no half-created slot outlives the migration.
 */
async function consistentSlot(loaded: LoadedPlan, db: Knex, slot: string): Promise<string> {
  const url = loaded.sourceUrl;
  const key = `${url}\u0000${slot}`;
  const where = `sync: the source's slot ${slot}`;
  let activity: Context | undefined;
  try {
    activity = Context.current();
  } catch {
    activity = undefined; // called outside an activity
  }
  const waitMs = slotWaitMs();
  const started = Date.now();
  const database = (await db.raw('select current_database() as d')).rows[0].d as string;
  try {
    for (;;) {
      const creation = creations.get(key);
      if (creation?.failed !== undefined) {
        creations.delete(key);
        return withoutValues(`${where} (create it, or have the role given REPLICATION)`, creation.failed);
      }
      const s: SlotNow | undefined = (
        await db
          .raw(
            `select s.slot_type, s.plugin, s.database, s.active_pid, s.confirmed_flush_lsn::text as confirmed, a.application_name
             from pg_replication_slots s left join pg_stat_activity a on a.pid = s.active_pid where s.slot_name = ?`,
            [slot],
          )
          .catch((err) => withoutValues(where, err))
      ).rows[0];
      let waiting: string;
      if (!s) {
        if (!creation || creation.done) {
          const record: { done: boolean; failed?: unknown; settled: Promise<void> } = { done: false, settled: Promise.resolve() };
          // On a connection of its own from the pool (application_name cutover-source-sync), not awaited here.
          record.settled = db
            .raw(`select pg_create_logical_replication_slot(?, 'pgoutput')`, [slot])
            .then(
              () => void (record.done = true),
              (err: unknown) => {
                record.done = true;
                const code = (err as { code?: string }).code ?? '';
                // 42710: another session created it first (it is waited for like any other).
                if (code !== '42710' && !CREATION_RETRIED.test(code)) record.failed = err;
              },
            );
          creations.set(key, record);
        }
        waiting = `sync: creating slot ${slot}; the full load starts once it is consistent`;
      } else {
        if (s.slot_type !== 'logical' || s.plugin !== 'pgoutput' || s.database !== database) {
          throw new SafeError(`${where} is a ${s.slot_type} slot of ${s.plugin ?? 'no plugin'} on database ${s.database}; Cutover needs a logical pgoutput slot on ${database}`);
        }
        if (s.confirmed !== null && s.active_pid === null) return s.confirmed;
        waiting = await slotWait(db, slot, s).catch((err) => withoutValues(where, err));
      }
      activity?.heartbeat({ phase: 'sync-slot', waiting });
      if (Date.now() - started >= waitMs) throw new SafeError(`${waiting} (this attempt waited ${formatAge(waitMs / 1000)}; the next one waits again)`);
      const pending = creations.get(key);
      await sleepUnlessCancelled(activity, SLOT_POLL_MS, pending && !pending.done ? pending.settled : undefined);
    }
  } catch (err) {
    if (activity?.cancellationSignal.aborted) {
      // The migration no longer wants the slot: a creation by Cutover still under way is ended (PostgreSQL drops the half-created slot).
      await db
        .raw(
          `select pg_cancel_backend(s.active_pid) from pg_replication_slots s join pg_stat_activity a on a.pid = s.active_pid
           where s.slot_name = ? and s.confirmed_flush_lsn is null and a.application_name like 'cutover-%'`,
          [slot],
        )
        .catch(() => undefined);
    }
    throw err;
  }
}

const emptyVerification = (entity: string) => ({ entity, sourceRows: 0, compared: 0, missing: 0, mismatched: 0, extra: 0, quarantined: 0, skipped: 0, sampleMissing: [] as string[], sampleMismatched: [] as string[] });

/**
 * Source rows (as read now) mapped, tokenized and digested as a stage would, against the target's
 * rows: counts into `out`; returns the rows found missing or different.
 */
async function compareWithTarget(stores: Stores, loaded: LoadedPlan, req: { migrationId: string; entity: string }, rows: Record<string, unknown>[], out: ReturnType<typeof emptyVerification>): Promise<UnverifiedRow[]> {
  const { spec, mapper: rowMapper } = loaded.entity(req.entity);
  const types = await loaded.targetTypes(req.entity);
  const [tokenKey, digestKey] = await Promise.all([stores.keys.get('token'), stores.keys.get('digest')]);
  const failed: UnverifiedRow[] = [];
  const { mapped, quarantined: unmappable, personal } = mapRows(spec, rowMapper, rows);
  for (const u of unmappable) {
    out.missing++;
    if (out.sampleMissing.length < 10) out.sampleMissing.push(`${u.sourceKey} (cannot be mapped: ${u.reason})`);
    failed.push({ sourceKey: u.sourceKey, businessKey: u.businessKey ?? u.sourceKey, reason: 'missing' });
  }
  // The tokens the values already have; a value the vault never saw cannot be in the target.
  const tokens = await stores.vault.existing(tokenKey, personal);
  for (const p of personal) if (!tokens.has(valueId(p.kind, p.value))) tokens.set(valueId(p.kind, p.value), 'no token for this value');
  const { digests } = tokenizeRows(spec, rowMapper, mapped, tokens, (expected) => rowDigest(digestKey, rowMapper.columns, expected, types), (kind, values) => shapeTokens(shapedTokenKey(tokenKey), kind, values));
  const read = await readTargetDigests(loaded, req.migrationId, req.entity, digests.map(([bk]) => bk), digestKey, `verify ${req.entity}`);
  const inTarget = new Map(read.found);
  for (const [bk, digest, sourceKey] of digests) {
    out.compared++;
    const got = inTarget.get(bk);
    if (got === undefined) {
      out.missing++;
      if (out.sampleMissing.length < 10) out.sampleMissing.push(`${bk} (source key ${sourceKey})`);
      failed.push({ sourceKey: sourceKey!, businessKey: bk, reason: 'missing' });
    } else if (got !== digest) {
      out.mismatched++;
      if (out.sampleMismatched.length < 10) out.sampleMismatched.push(`${bk} (source key ${sourceKey})`);
      failed.push({ sourceKey: sourceKey!, businessKey: bk, reason: 'mismatched' });
    }
  }
  return failed;
}

/** Every source row against the target, and every loaded row against the source (see verifyEntity). */
async function verifyWhole(stores: Stores, req: { migrationId: string; entity: string }): Promise<FinalReconcile['entities'][number]> {
  const loaded = await stores.plans.plan(req.migrationId);
  const { spec, mapper: rowMapper } = loaded.entity(req.entity);
  const quarantined = await stores.quarantine.sourceKeys(req.migrationId, req.entity);
  // A row whose last conflict kept the target's version: the target differs from the source by the plan's choice.
  for (const k of await stores.conflicts.lastKeptOut(req.migrationId, req.entity)) quarantined.add(k);
  const out = emptyVerification(req.entity);
  const seen = new Set<string>();
  await withHeartbeat({ phase: 'sync-verify', entity: req.entity }, async () => {
    for (let after: string | null = null; ; ) {
      const page: { key: string; skipped: string | null }[] = await readOnly(loaded, `verify ${req.entity}: read the source keys`, async (trx) => {
        const q = keysSql(spec, after, 5000);
        return (await trx.raw(q.sql, q.bindings as never)).rows;
      });
      if (!page.length) break;
      after = page[page.length - 1]!.key;
      out.sourceRows += page.length;
      const wanted = page.filter((r) => r.skipped === null && !quarantined.has(r.key)).map((r) => r.key);
      out.skipped += page.filter((r) => r.skipped !== null).length;
      out.quarantined += page.filter((r) => r.skipped === null && quarantined.has(r.key)).length;
      for (const k of wanted) seen.add(k);
      const q = extractByKeysSql(spec, rowMapper.sourceColumns, wanted, await keyTypeOf(loaded, spec));
      const rows: Record<string, unknown>[] = await readOnly(loaded, `verify ${req.entity}`, async (trx) => (await trx.raw(q.sql, q.bindings as never)).rows);
      await compareWithTarget(stores, loaded, req, rows, out);
      if (page.length < 5000) break;
    }
    // The other way: rows the migration loaded that the source no longer has.
    for await (const keys of keyMapSourceKeys(loaded.target, loaded.plan.target.ledgerSchema, req.migrationId, req.entity)) {
      for (const k of keys) if (!seen.has(k) && !quarantined.has(k)) out.extra++;
    }
  });
  return out;
}

/** Rows loaded per migration and entity, as this process last counted them, and when. */
const loadedCounts = new Map<string, { n: number; at: number }>();
const LOADED_COUNT_MAX_AGE_MS = 30_000;

/**
 * The rows a migration loaded of an entity, for the report's "verified: N of M": counted in the key
 * map at most every 30 s per process (a count reads the entity's whole key map: about a second at
 * millions of rows, which every round would otherwise pay), and once known counted again in the
 * background, so no round waits for it. Rows not verified are counted exactly, every round.
 */
async function loadedRowsOf(loaded: LoadedPlan, migrationId: string, entity: string): Promise<number> {
  const key = `${migrationId}\u0000${entity}`;
  const known = loadedCounts.get(key);
  const count = () => keyMapCount(loaded.target, loaded.plan.target.ledgerSchema, migrationId, entity).then((n) => (loadedCounts.set(key, { n, at: Date.now() }), n));
  if (!known) return count();
  // Stale: counted again beside the rounds, not in one (a round's latency is the target's lag).
  if (Date.now() - known.at >= LOADED_COUNT_MAX_AGE_MS && !recounting.has(key)) {
    recounting.add(key);
    void count()
      .catch(() => undefined)
      .finally(() => recounting.delete(key));
  }
  return known.n;
}

/** Counts under way beside the rounds. */
const recounting = new Set<string>();

export function createSyncActivities(stores: Stores) {
  return {
    /**
     * Before the full load's first read: where the change stream starts. Logical: the publication
     * covers every entity's table, and the slot exists and is consistent (see `consistentSlot`):
     * every transaction that commits after its position is in the stream, and every one that
     * committed before it is seen by the full load's snapshots, all taken after this returns.
     * Poll: the source's clock, the first round's watermark.
     */
    async startCapture(req: { migrationId: string }): Promise<SyncPositions> {
      const loaded = await stores.plans.plan(req.migrationId);
      const sync = loaded.plan.sync;
      if (!sync) throw new SafeError(`migration ${req.migrationId}: the plan has no sync section`);
      if (sync.mode === 'poll') {
        // The source's clock, not the newest change value: a later round reads again from this
        // minus the overlap, so a change that commits late (its change value older) is still found.
        const now = await sourceClock(loaded);
        return { watermarks: Object.fromEntries(loaded.plan.entities.map((e) => [e.name, now])) };
      }
      const db = loaded.replicationSource();
      const published: { schemaname: string; tablename: string }[] = (
        await db.raw('select schemaname, tablename from pg_publication_tables where pubname = ?', [sync.publication]).catch((err) => withoutValues(`sync: the publication ${sync.publication}`, err))
      ).rows;
      const pub = await db.raw('select 1 from pg_publication where pubname = ?', [sync.publication]);
      if (!pub.rows.length) throw new SafeError(`sync: the source has no publication ${sync.publication}; its DBA creates it: create publication ${sync.publication} for table ${loaded.plan.entities.map((e) => `${e.source.schema}.${e.source.table}`).join(', ')}`);
      const missing = loaded.plan.entities.filter((e) => !published.some((p) => p.schemaname === e.source.schema && p.tablename === e.source.table));
      if (missing.length) throw new SafeError(`sync: publication ${sync.publication} does not publish ${missing.map((e) => `${e.source.schema}.${e.source.table}`).join(', ')}: alter publication ${sync.publication} add table …`);
      return { watermarks: {}, confirmed: await consistentSlot(loaded, db, sync.slot) };
    },

    /**
     * One round's capture: the source keys changed since the last round, per entity, written to
     * the control database (the round's stage reads them there). Logical: the changes the slot's
     * follower kept, of transactions that commit before the source's position now (without a
     * follower holding the slot, the slot's changes, peeked); the slot advances only after the
     * round is applied (`advanceCapture`). Poll: rows whose change column is at or past the
     * watermark minus the overlap, and, every key_set_interval_seconds and in every round after
     * the cutover is asked (`final`), a comparison of key sets for rows inserted without a change
     * value and for hard deletes.
     */
    async captureChanges(req: { migrationId: string; round: number; positions: SyncPositions; final?: boolean }): Promise<CapturedRound> {
      const loaded = await stores.plans.plan(req.migrationId);
      const sync = loaded.plan.sync!;
      const byEntity = new Map<string, Set<string>>();
      const add = (entity: string, key: string) => {
        let keys = byEntity.get(entity);
        if (!keys) byEntity.set(entity, (keys = new Set()));
        keys.add(key);
      };
      const deletes = new Map<string, number>();
      const loadedRows = new Map<string, number>();
      let oldest: number | undefined;
      let more = false;
      let advanceTo: string | undefined;
      let retainedWalBytes: number | undefined;
      /** Poll: changes past the last watermark (the overlap reads rows again that are not new). */
      let fresh = 0;
      const watermarks = { ...req.positions.watermarks };
      let keySetsAt = req.positions.keySetsAt;
      /** Deleted keys (loaded, gone from the source or now skipped) and keys never accounted for, by key sets. */
      const keySets = async (spec: EntitySpec) => {
        const diff = await compareKeySets(stores, loaded, req.migrationId, spec, await loadedRowsOf(loaded, req.migrationId, spec.name));
        for (const k of [...diff.deleted, ...diff.unseen]) add(spec.name, k);
        fresh += diff.deleted.length + diff.unseen.length;
        deletes.set(spec.name, (deletes.get(spec.name) ?? 0) + diff.deleted.length);
        loadedRows.set(spec.name, diff.loaded);
      };
      await withHeartbeat({ phase: 'sync-capture', round: req.round }, async () => {
        if (sync.mode === 'poll') {
          const now = await sourceClock(loaded);
          // Key sets (each a scan of the entity's keys on both sides: seconds at millions of rows)
          // are compared every key_set_interval_seconds, and in every round after the cutover is asked.
          const every = sync.keySetIntervalSeconds ?? DEFAULT_KEY_SET_INTERVAL_SECONDS;
          const compareKeys = req.final === true || req.positions.keySetsAt === undefined || now - req.positions.keySetsAt >= every;
          if (compareKeys) keySetsAt = now;
          for (const spec of loaded.plan.entities) {
            const since = watermarks[spec.name];
            const q = changedKeysSql(spec, await isTimestamp(loaded, spec), since === null || since === undefined ? null : since - sync.overlapSeconds);
            const rows: { key: string; changed: number }[] = await readOnly(loaded, `sync ${spec.name}: changed rows`, async (trx) => (await trx.raw(q.sql, q.bindings as never)).rows);
            for (const r of rows) {
              add(spec.name, r.key);
              const changed = Number(r.changed) * 1000;
              if (since === null || since === undefined || changed > since * 1000) {
                oldest = Math.min(oldest ?? changed, changed);
                fresh++;
              }
            }
            watermarks[spec.name] = now;
            if (compareKeys) await keySets(spec);
          }
          return;
        }
        const db = loaded.replicationSource();
        const byTable = new Map(loaded.plan.entities.map((e) => [`${e.source.schema}.${e.source.table}`, e] as const));
        // Up to the WAL position now: when the round takes every change before it, the slot may be
        // confirmed that far even if none of them was the plan's (else a quiet source's slot holds WAL for ever).
        const upTo = (await db.raw('select pg_current_wal_lsn()::text as lsn')).rows[0].lsn as string;
        const truncated = new Set<EntitySpec>();
        if ((await slotState(db, sync.slot))?.active) {
          // The slot's follower holds it: the changes are kept, decoded once; wait until they are kept up to here.
          await followedUpTo(stores, req.migrationId, sync.slot, upTo);
          const taken = await stores.followed.before(req.migrationId, upTo, MAX_CHANGES_PER_ROUND);
          const byName = new Map(loaded.plan.entities.map((e) => [e.name, e] as const));
          for (const r of taken.rows) {
            oldest = Math.min(oldest ?? r.committedAt, r.committedAt);
            if (r.kind === 't') truncated.add(byName.get(r.entity)!);
            else add(r.entity, r.sourceKey);
            if (r.kind === 'd') deletes.set(r.entity, (deletes.get(r.entity) ?? 0) + 1);
          }
          more = taken.more;
          advanceTo = taken.through;
          for (const spec of truncated) await keySets(spec);
          retainedWalBytes = (await slotState(db, sync.slot))?.retainedWalBytes;
          return;
        }
        // No follower (a migration started before there was one, or its follower is starting again): the slot's changes are read here.
        const decoder = new PgoutputDecoder({ keyColumnsOf: (schema, table) => (byTable.has(`${schema}.${table}`) ? [byTable.get(`${schema}.${table}`)!.source.key] : undefined) });
        const peeked: { lsn: string; data: Buffer }[] = (
          await db
            .raw(`select lsn::text as lsn, data from pg_logical_slot_peek_binary_changes(?, ?::pg_lsn, ?, 'proto_version', '1', 'publication_names', ?)`, [sync.slot, upTo, MAX_CHANGES_PER_ROUND, sync.publication])
            .catch((err) => withoutValues(`sync: read the changes of slot ${sync.slot}`, err))
        ).rows;
        more = peeked.length >= MAX_CHANGES_PER_ROUND;
        for (const { data } of peeked) {
          const m = decoder.decode(data);
          if (m.kind === 'begin') oldest ??= m.committedAt;
          else if (m.kind === 'commit') advanceTo = m.endLsn;
          else if (m.kind === 'truncate') {
            for (const t of m.relations) if (byTable.has(`${t.schema}.${t.table}`)) truncated.add(byTable.get(`${t.schema}.${t.table}`)!);
          } else if (m.kind === 'insert' || m.kind === 'update' || m.kind === 'delete') {
            const spec = byTable.get(`${m.schema}.${m.table}`);
            if (!spec) continue;
            // The row's current state is read again at stage: a key is all a change needs to carry.
            for (const keys of [m.keys, m.oldKeys]) {
              const key = keys?.[spec.source.key];
              if (key !== undefined && key !== null) add(spec.name, key);
            }
            if (m.kind === 'delete') deletes.set(spec.name, (deletes.get(spec.name) ?? 0) + 1);
          }
        }
        if (!more) advanceTo = upTo;
        for (const spec of truncated) await keySets(spec);
        retainedWalBytes = (await slotState(db, sync.slot))?.retainedWalBytes;
      });
      // The guard's denominator: rows the migration has loaded of each entity with deletes.
      for (const entity of deletes.keys()) {
        if (!loadedRows.has(entity)) {
          loadedRows.set(entity, await keyMapCount(loaded.target, loaded.plan.target.ledgerSchema, req.migrationId, entity));
        }
      }
      await stores.changes.record(req.migrationId, req.round, byEntity);
      const entities = loaded.plan.entities
        .filter((e) => byEntity.has(e.name))
        .map((e) => ({ entity: e.name, keys: byEntity.get(e.name)!.size, deletes: deletes.get(e.name) ?? 0, loaded: loadedRows.get(e.name) ?? 0, batchSize: batchSizeOf(loaded.plan, e) }));
      const total = entities.reduce((n, e) => n + e.keys, 0);
      const lag = {
        changes: sync.mode === 'poll' ? fresh : total,
        seconds: oldest === undefined ? 0 : Math.max(0, Math.round((Date.now() - oldest) / 1000)),
        ...(retainedWalBytes !== undefined ? { retainedWalBytes, walAlarm: retainedWalBytes > sync.maxRetainedWalMb * 1024 * 1024 } : {}),
      };
      recordSyncLag({ migration: req.migrationId }, lag);
      return { round: req.round, entities, total, positions: { ...req.positions, watermarks, ...(keySetsAt !== undefined ? { keySetsAt } : {}) }, ...(advanceTo ? { advanceTo } : {}), more, lag };
    },

    /**
     * Stages one part of an entity's changes in a round: the rows of its captured keys as the
     * source holds them now (read in one snapshot), through the same mapping, tokens and
     * encrypted staging as the full load; the keys the source no longer has (or now skips)
     * travel in the manifest as deletes.
     */
    async stageChanges(req: { migrationId: string; entity: string; round: number; part: number; runId: string }): Promise<StagedBatch & { deletes: number }> {
      const loaded = await stores.plans.plan(req.migrationId);
      const { spec, mapper } = loaded.entity(req.entity);
      const size = batchSizeOf(loaded.plan, spec);
      const keys = await stores.changes.part(req.migrationId, req.round, req.entity, req.part, size);
      const batchId = syncBatchIdOf(loaded.planHash, req.entity, req.round, req.part);
      const q = extractByKeysSql(spec, mapper.sourceColumns, keys, await keyTypeOf(loaded, spec));
      const extracted: Record<string, unknown>[] = await withHeartbeat({ phase: 'sync-extract', batchId }, () => readOnly(loaded, `sync ${req.entity} round ${req.round}`, async (trx) => (await trx.raw(q.sql, q.bindings as never)).rows));
      const present = new Set(withoutSkipped(extracted, spec.source.skip ?? [], skipAlias).kept.map((row) => String(row[spec.source.key])));
      const deleted = keys.filter((k) => !present.has(k));
      const staged = await stageExtracted(stores, loaded, { migrationId: req.migrationId, entity: req.entity, batchId, afterKey: null, lastKey: `sync round ${req.round} part ${req.part}`, runId: req.runId, delta: { round: req.round, deleted } }, extracted);
      return { ...staged, deletes: deleted.length };
    },

    /**
     * After a round is applied: the slot confirms its changes (the source may recycle their WAL);
     * older rounds' keys go. Returns, for the report, what is verified: per entity the rows loaded
     * and those whose last verification failed.
     */
    async advanceCapture(req: { migrationId: string; round: number; advanceTo?: string }): Promise<{ confirmed: string | null; verification: { entity: string; loaded: number; unverified: number }[] }> {
      const loaded = await stores.plans.plan(req.migrationId);
      const sync = loaded.plan.sync!;
      let confirmed: string | null = null;
      if (sync.mode === 'logical' && req.advanceTo) {
        const db = loaded.replicationSource();
        const state = await slotState(db, sync.slot);
        if (!state) throw new SafeError(`sync: the source's slot ${sync.slot} is gone: changes since the last round are lost to it; roll back, or run the migration again`);
        // The follower's kept changes before it go; a follower holding the slot confirms it there at its next tick.
        await stores.followed.confirm(req.migrationId, req.advanceTo);
        // A retried advance finds the slot already there (advancing backwards is an error).
        if (!state.active && (state.confirmed === null || compareLsn(state.confirmed, req.advanceTo) < 0)) {
          await db.raw('select pg_replication_slot_advance(?, ?::pg_lsn)', [sync.slot, req.advanceTo]).catch((err) => withoutValues(`sync: confirm slot ${sync.slot}`, err));
        }
        confirmed = (await slotState(db, sync.slot))?.confirmed ?? null;
      }
      await stores.changes.forget(req.migrationId, req.round);
      const unverified = await stores.verification.counts(req.migrationId);
      const verification = [];
      for (const e of loaded.plan.entities) verification.push({ entity: e.name, loaded: await loadedRowsOf(loaded, req.migrationId, e.name), unverified: unverified.get(e.name) ?? 0 });
      return { confirmed, verification };
    },

    /**
     * The cutover's final reconcile of one entity, both ways: every source row (read now, in one
     * snapshot per page) mapped as the plan maps it, its digest computed as a stage would, and
     * compared with the target's row; every row the migration loaded still in the source. Rows
     * the migration quarantined, or whose target version a conflict policy kept, are counted
     * apart. Reads only. (`cutover cutover --full`; before tail verification, every cutover.)
     */
    verifyEntity: (req: { migrationId: string; entity: string }) => verifyWhole(stores, req),

    /**
     * The cutover's verification of one entity once the final delta is applied: every row was
     * verified by the batch that last wrote it (full load or round), except the ones whose check
     * failed; those are compared again with the source as it is now (and leave the list when
     * right), and the counts are checked both ways: the source's rows (not skipped) against the
     * rows the migration loaded plus those it quarantined. Proportional to what is not verified,
     * not to the table. An entity with a row staged before manifests carried source keys is
     * verified whole.
     */
    async verifyTail(req: { migrationId: string; entity: string }): Promise<FinalReconcile['entities'][number]> {
      const loaded = await stores.plans.plan(req.migrationId);
      const { spec } = loaded.entity(req.entity);
      const ledger = loaded.plan.target.ledgerSchema;
      const open = await stores.verification.unverified(req.migrationId, req.entity);
      if (open.some((u) => u.sourceKey.startsWith(UNKNOWN_SOURCE_KEY))) return { ...(await verifyWhole(stores, req)), scope: 'full' };
      const quarantined = await stores.quarantine.sourceKeys(req.migrationId, req.entity);
      for (const k of await stores.conflicts.lastKeptOut(req.migrationId, req.entity)) quarantined.add(k);
      const out = { ...emptyVerification(req.entity), scope: 'tail' as const, loaded: 0 };
      await withHeartbeat({ phase: 'sync-verify-tail', entity: req.entity }, async () => {
        const wanted = open.map((u) => u.sourceKey).filter((k) => !quarantined.has(k));
        const apart = [...quarantined];
        // One read of the source for both: the rows to compare again, and the quarantined ones the counts leave apart.
        const asked = [...wanted, ...apart];
        const q = asked.length ? extractByKeysSql(spec, loaded.entity(req.entity).mapper.sourceColumns, asked, await keyTypeOf(loaded, spec)) : undefined;
        const rows: Record<string, unknown>[] = q ? await readOnly(loaded, `verify ${req.entity}`, async (trx) => (await trx.raw(q.sql, q.bindings as never)).rows) : [];
        const inSource = withoutSkipped(rows, spec.source.skip ?? [], skipAlias).kept;
        const keyOf = (row: Record<string, unknown>) => String(row[spec.source.key]);
        const present = inSource.filter((r) => !quarantined.has(keyOf(r)));
        const presentKeys = new Set(present.map(keyOf));
        const failed = await compareWithTarget(stores, loaded, req, present, out);
        // Gone from the source (or now skipped): right when the migration no longer holds them.
        const gone = wanted.filter((k) => !presentKeys.has(k));
        const still = await keyMapEntries(loaded.target, ledger, req.migrationId, req.entity, gone);
        for (const [sourceKey, e] of still) {
          out.extra++;
          if (out.sampleMismatched.length < 10) out.sampleMismatched.push(`${e.businessKey} (source key ${sourceKey}: gone from the source, still in the target)`);
          failed.push({ sourceKey, businessKey: e.businessKey, reason: 'still present' });
        }
        const bad = new Set(failed.map((f) => f.sourceKey));
        // Right now, or accounted for apart (quarantined, or kept by a conflict policy): they leave the list.
        const settled = [...wanted.filter((k) => !bad.has(k)), ...open.map((u) => u.sourceKey).filter((k) => quarantined.has(k))];
        await stores.verification.record({ migrationId: req.migrationId, entity: req.entity, batchId: 'cutover' }, settled, failed);
        // Counts both ways, quarantined rows (and rows a conflict policy kept) apart: the source's rows
        // to migrate against the rows the migration loaded. Equal counts, with every row verified,
        // leave no row missing on either side.
        const c = keptCountSql(spec);
        // The two counts at once: each is a scan in its own database.
        const [counted, loadedRows] = await Promise.all([
          readOnly(loaded, `verify ${req.entity}: count the source rows`, async (trx) => (await trx.raw(c.sql, c.bindings as never)).rows[0] as { rows: string; kept: string }),
          keyMapCount(loaded.target, ledger, req.migrationId, req.entity),
        ]);
        out.sourceRows = Number(counted.rows);
        out.skipped = out.sourceRows - Number(counted.kept);
        out.loaded = loadedRows;
        out.quarantined = quarantined.size;
        const quarantinedInSource = inSource.length - present.length;
        const quarantinedLoaded = apart.length ? (await keyMapEntries(loaded.target, ledger, req.migrationId, req.entity, apart)).size : 0;
        const toMigrate = Number(counted.kept) - quarantinedInSource;
        const migrated = out.loaded - quarantinedLoaded;
        const counts = `the source has ${toMigrate} rows to migrate, the migration loaded ${migrated} (quarantined or kept by a conflict policy: ${apart.length}, counted apart)`;
        if (toMigrate > migrated) {
          out.missing += toMigrate - migrated;
          out.sampleMissing.push(`${toMigrate - migrated} row(s): ${counts}; \`cutover cutover --full\` names them`);
        } else if (toMigrate < migrated) {
          out.extra += migrated - toMigrate;
          out.sampleMismatched.push(`${migrated - toMigrate} row(s): ${counts}; \`cutover cutover --full\` names them`);
        }
      });
      return out;
    },

    /** The migration has ended (completed, cancelled, rolled back): the slot goes, so the source keeps no WAL for it. */
    async endCapture(req: { migrationId: string }): Promise<{ slotDropped: boolean }> {
      const loaded = await stores.plans.plan(req.migrationId);
      const sync = loaded.plan.sync;
      await stores.changes.forget(req.migrationId);
      await stores.followed.forget(req.migrationId);
      if (sync?.mode !== 'logical') return { slotDropped: false };
      const db = loaded.replicationSource();
      // A follower still holding the slot (its cancellation on the way, or its worker gone without closing) lets go of it.
      for (let i = 0; i < 50; i++) {
        const state = await slotState(db, sync.slot);
        if (!state?.active) break;
        if (state.activePid) await db.raw('select pg_terminate_backend(?)', [state.activePid]).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
      }
      const r = await db
        .raw('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = ?', [sync.slot])
        .catch((err) => withoutValues(`sync: drop slot ${sync.slot}`, err));
      return { slotDropped: (r.rowCount ?? 0) > 0 };
    },
  };
}
