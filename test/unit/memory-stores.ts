/**
 * Small in-memory stores for unit tests of the activities (the seams of src/stores): a target
 * that can refuse rows the way PostgreSQL does (an error with a SQLSTATE), a vault, a quarantine,
 * a staging store, a source, an audit log. Transactions and savepoints undo what they wrote
 * when their work throws, as the real ones do.
 */
import type { LedgerRecordAt, PackedLedgerRecord } from '../../src/core/ledger-record';
import type { AuditEvent } from '../../src/audit/chain';
import { businessKeyOf, compileMapper, RowMapper, Value } from '../../src/core/mapping';
import type { QuarantineRecord } from '../../src/core/quarantine-record';
import { ownSealingKeys } from '../../src/core/migration-keys';
import { StagedClearValues } from '../../src/core/staged-clear-values';
import { valueId } from '../../src/core/token-assignment';
import type { KeyMapEntry, KeyMapRow } from '../../src/control/key-map';
import { planHash } from '../../src/plan/hash';
import type { EntitySpec, Plan } from '../../src/plan/types';
import type { Manifest, StagedRows } from '../../src/stores/manifest';
import type { LoadedPlan } from '../../src/stores/plan-store';
import type { StagingStore } from '../../src/stores/staging-store';
import type { UnverifiedRow } from '../../src/stores/verification-log';
import type { Stores } from '../../src/stores/stores';
import { TokenVault, withSealedTokens } from '../../src/stores/token-vault';
import type { BatchLoadCounts, LoadTable, LoadTransaction, Row, RowWriter, TargetWriter } from '../../src/stores/target-writer';
import type { TargetType } from '../../src/core/target-types';

/** An error as pg raises it for a refused row: a SQLSTATE and the constraint, no values. */
export function pgError(code: string, constraint: string, column?: string): Error {
  return Object.assign(new Error(`refused by ${constraint}`), { code, constraint, column, table: 'people' });
}

interface TargetState {
  rows: Map<string, Row>;
  keyMap: Map<string, KeyMapRow>;
  /** Ledger records, in the order loads appended them. */
  ledger: { at: LedgerRecordAt; record: PackedLedgerRecord }[];
  batchLoads: Map<string, BatchLoadCounts>;
}

const copyState = (s: TargetState): TargetState => ({
  rows: new Map([...s.rows].map(([k, v]) => [k, { ...v }])),
  keyMap: new Map([...s.keyMap].map(([k, v]) => [k, { ...v }])),
  ledger: [...s.ledger],
  batchLoads: new Map(s.batchLoads),
});

/** One target table and the ledger schema beside it. `refuse` plays the target's constraints. */
export class MemoryTarget implements TargetWriter {
  state: TargetState = { rows: new Map(), keyMap: new Map(), ledger: [], batchLoads: new Map() };
  /** Statements the target ran: upserts with how many rows, so a test sees the halving. */
  readonly statements: string[] = [];
  constructor(private readonly refuse: (row: Row) => Error | undefined = () => undefined) {}

  private static mapKey = (migrationId: string, entity: string, sourceKey: string) => `${migrationId}\u0000${entity}\u0000${sourceKey}`;

  async prepare(): Promise<void> {}

  async targetKeysOf(migrationId: string, entity: string, sourceKeys: Iterable<string>): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const k of sourceKeys) {
      const e = this.state.keyMap.get(MemoryTarget.mapKey(migrationId, entity, k));
      if (e?.targetKey) out.set(k, e.targetKey);
    }
    return out;
  }

  async inLoad<T>(_fence: { migrationId: string; runId: string; what: string }, work: (tx: LoadTransaction) => Promise<T>): Promise<T> {
    const tx = copyState(this.state);
    const out = await work(this.transaction(tx));
    this.state = tx; // committed only when the work returned
    return out;
  }

  async fenced<T>(_fence: { migrationId: string; runId: string; what: string }, work: () => Promise<T>): Promise<T> {
    return work();
  }

  private transaction(tx: TargetState): LoadTransaction {
    const rowWriter: RowWriter = {
      lockRows: async (table: LoadTable, keys) => {
        const wanted = new Set(keys.map((k) => businessKeyOf(k, k.map((_, i) => i))));
        return [...tx.rows.entries()].filter(([bk]) => wanted.has(bk)).map(([, r]) => ({ ...r }));
      },
      upsert: async (table: LoadTable, rows) => {
        this.statements.push(`upsert ${rows.length}`);
        const out: Row[] = [];
        for (const values of rows) {
          const row: Row = Object.fromEntries(table.columns.map((c, i) => [c, values[i] ?? null]));
          const refused = this.refuse(row);
          if (refused) throw refused;
          const bk = businessKeyOf(values, table.businessKeyIndexes);
          tx.rows.set(bk, row);
          out.push(Object.fromEntries(table.businessKey.map((c) => [c, row[c]!])));
        }
        return out;
      },
    };
    return {
      priorLoad: async (runId, batchId) => tx.batchLoads.get(`${runId}/${batchId}`),
      heldByOtherRows: async (migrationId, entity, rows) => {
        const out = new Map<string, string>();
        for (const r of rows) {
          const holder = [...tx.keyMap.entries()].find(([k, e]) => k.startsWith(`${migrationId}\u0000${entity}\u0000`) && e.businessKey === r.bk && e.sourceKey !== r.sourceKey);
          if (holder) out.set(r.sourceKey, holder[1].sourceKey);
        }
        return out;
      },
      keyMapEntries: async (migrationId, entity, sourceKeys) => {
        const out = new Map<string, KeyMapEntry>();
        for (const k of sourceKeys) {
          const e = tx.keyMap.get(MemoryTarget.mapKey(migrationId, entity, k));
          if (e) out.set(k, { businessKey: e.businessKey, targetKey: e.targetKey, writtenDigest: e.writtenDigest ?? null, sourceDigest: e.sourceDigest ?? null });
        }
        return out;
      },
      savepoint: async <R>(work: (rows: RowWriter) => Promise<R>): Promise<R> => {
        const before = new Map([...tx.rows].map(([k, v]) => [k, { ...v }]));
        try {
          return await work(rowWriter);
        } catch (err) {
          tx.rows = before;
          throw err;
        }
      },
      appendLedger: async (at, record) => {
        const same = (l: LedgerRecordAt) => l.migrationId === at.migrationId && l.table === at.table && l.runId === at.runId && l.batchId === at.batchId;
        if (!tx.ledger.some((l) => same(l.at))) tx.ledger.push({ at, record });
      },
      recordFiles: async () => undefined,
      recordKeys: async (migrationId, entity, rows) => {
        for (const r of rows) tx.keyMap.set(MemoryTarget.mapKey(migrationId, entity, r.sourceKey), { ...r });
      },
      recordBatchLoad: async (runId, batchId, counts) => {
        tx.batchLoads.set(`${runId}/${batchId}`, counts);
      },
    };
  }
}

/** Staged batches as plain objects (no cipher: the seam under test is the activity, not the envelope). */
export class MemoryStaging implements StagingStore {
  readonly batches = new Map<string, { manifest: Manifest; rows: StagedRows }>();
  async putBatch(manifest: Manifest, rows: StagedRows): Promise<number> {
    this.batches.set(manifest.batchId, { manifest: structuredClone(manifest), rows: structuredClone(rows) });
    return JSON.stringify(rows).length;
  }
  async readManifest(_m: string, _e: string, batchId: string): Promise<Manifest> {
    const b = this.batches.get(batchId);
    if (!b) throw Object.assign(new Error(`no staged batch ${batchId}`), { name: 'NoSuchKey' });
    return structuredClone(b.manifest);
  }
  async readRows(manifest: Manifest): Promise<StagedRows> {
    return structuredClone(this.batches.get(manifest.batchId)!.rows);
  }
  async stageFile(): Promise<{ sha256: string; bytes: number }> {
    throw new Error('no files in these tests');
  }
  async loadFile(): Promise<'copied' | 'unchanged'> {
    throw new Error('no files in these tests');
  }
  async checkLoadedFile(): Promise<{ matches: boolean }> {
    throw new Error('no files in these tests');
  }
  async removeLoadedFile(): Promise<void> {
    throw new Error('no files in these tests');
  }
  async removeAll(): Promise<number> {
    const n = this.batches.size;
    this.batches.clear();
    return n;
  }
}

/** Every store an activity can ask for, in memory, over one plan. */
export function memoryStores(plan: Plan, options: { target?: MemoryTarget; source?: Record<string, Record<string, unknown>[]>; types?: Record<string, (TargetType | undefined)[]>; sealed?: boolean } = {}) {
  const target = options.target ?? new MemoryTarget();
  const staging = new MemoryStaging();
  const vaultEntries = new Map<string, string>();
  const quarantine = new Map<string, QuarantineRecord & { entity: string; step: string; batchId: string }>();
  const audit: AuditEvent[] = [];
  const staged: Record<string, unknown>[] = [];
  const key = (n: number) => Buffer.alloc(32, n);
  const mappers = new Map<string, { spec: EntitySpec; mapper: RowMapper }>(plan.entities.map((spec) => [spec.name, { spec, mapper: compileMapper(spec) }]));
  const loaded: LoadedPlan = {
    plan,
    planHash: planHash(plan),
    source: undefined as never,
    target: undefined as never,
    replicationSource: () => {
      throw new Error('no replication in memory');
    },
    sourceUrl: 'memory://source',
    reader: {
      extract: async (spec, _columns, range) =>
        (options.source?.[spec.name] ?? []).filter((r) => {
          const k = String(r[spec.source.key]);
          return (range.afterKey === null || k > range.afterKey) && k <= range.lastKey;
        }),
    },
    staging,
    writer: target,
    cipher: undefined as never,
    bucket: 'memory',
    entity: (name) => mappers.get(name)!,
    targetTypes: async (name) => options.types?.[name] ?? mappers.get(name)!.mapper.columns.map(() => undefined),
    vaultKey: async () => key(3),
    // A migration with keys of its own, derived from a fixed root.
    sealing: async () => ownSealingKeys(key(9), 'memory'),
  };
  const stores: Stores = {
    plans: { register: async () => undefined, plan: async () => loaded, bind: () => loaded, connectionUrl: () => 'memory://' },
    keys: { get: async (purpose) => key(purpose.length) },
    vault: (options.sealed === false ? (v: TokenVault) => v : withSealedTokens)({
      tokenize: async (_keys, _migrationId, values) => {
        const out = new Map<string, string>();
        for (const v of values) {
          const token = `tok_${v.kind}_${vaultEntries.size + 1}`;
          const id = valueId(v.kind, v.value);
          const known = [...vaultEntries.entries()].find(([, value]) => value === id);
          const t = known ? known[0] : token;
          vaultEntries.set(t, id);
          out.set(id, t);
        }
        return out;
      },
      existing: async (_key, values) => {
        const out = new Map<string, string>();
        for (const v of values) {
          const id = valueId(v.kind, v.value);
          const known = [...vaultEntries.entries()].find(([, value]) => value === id);
          if (known) out.set(id, known[0]);
        }
        return out;
      },
      purge: async () => {
        const purged = vaultEntries.size;
        vaultEntries.clear();
        return { purged, handedOver: 0 };
      },
      open: async (_keys, _migrationId, tokens, held) => {
        const out = new Map<string, string>();
        let missing = 0;
        for (const t of new Set(tokens)) {
          const id = vaultEntries.get(t);
          const v = held?.get(t) ?? (id === undefined ? undefined : id.slice(id.indexOf('\0') + 1));
          if (v === undefined) missing++;
          else out.set(t, v);
        }
        if (missing) throw new Error(`token vault: ${missing} token(s) have no entry`);
        return out;
      },
    }),
    quarantine: {
      write: async (_key, ref, step, records) => {
        for (const r of records) quarantine.set(`${ref.entity}/${r.sourceKey}`, { ...r, entity: ref.entity, step, batchId: ref.batchId });
      },
      resolve: async (ref, step, sourceKeys) => {
        let n = 0;
        for (const k of sourceKeys) {
          const e = quarantine.get(`${ref.entity}/${k}`);
          if (e && (step === 'load' || e.step === 'stage')) n += quarantine.delete(`${ref.entity}/${k}`) ? 1 : 0;
        }
        return n;
      },
      keysOf: async (_m, entity, sourceKeys) => new Set(sourceKeys.filter((k) => quarantine.has(`${entity}/${k}`))),
      sourceKeys: async (_m, entity) => new Set([...quarantine.values()].filter((q) => q.entity === entity).map((q) => q.sourceKey)),
      refusedAtLoad: async (b) => [...quarantine.values()].filter((q) => q.entity === b.entity && q.batchId === b.batchId && q.step === 'load').map((q) => ({ source_key: q.sourceKey, business_key: q.businessKey ?? '' })),
    },
    audit: {
      append: async (event) => {
        audit.push(event);
        return { seq: audit.length, hash: String(audit.length) };
      },
    },
    conflicts: { record: async () => undefined, count: async () => 0, keptOut: async () => [], lastKeptOut: async () => new Set<string>() },
    batches: {
      recordStaged: async (b) => {
        staged.push({ ...b });
      },
      recordReconcile: async () => undefined,
      batchIds: async (_m, entity) => staged.filter((b) => b.entity === entity).map((b) => b.batchId as string),
    },
    verification: (() => {
      const rows = new Map<string, { entity: string; migrationId: string; row: UnverifiedRow }>();
      const at = (m: string, e: string, k: string) => `${m}\u0000${e}\u0000${k}`;
      return {
        record: async (b: { migrationId: string; entity: string }, verified: readonly string[], failed: readonly UnverifiedRow[]) => {
          for (const k of verified) rows.delete(at(b.migrationId, b.entity, k));
          for (const f of failed) rows.set(at(b.migrationId, b.entity, f.sourceKey), { entity: b.entity, migrationId: b.migrationId, row: f });
        },
        unverified: async (m: string, e: string) => [...rows.values()].filter((r) => r.migrationId === m && r.entity === e).map((r) => r.row),
        counts: async (m: string) => {
          const out = new Map<string, number>();
          for (const r of rows.values()) if (r.migrationId === m) out.set(r.entity, (out.get(r.entity) ?? 0) + 1);
          return out;
        },
      };
    })(),
    approvals: { record: async () => ({ decidedAt: new Date(0).toISOString() }) },
    changes: {
      record: async () => undefined,
      part: async () => [],
      forget: async () => undefined,
    },
    // No plan of the unit tests syncs logically; nothing is followed.
    followed: {
      append: async () => undefined,
      state: async () => undefined,
      before: async (_m, upTo) => ({ rows: [], through: upTo, more: false }),
      confirm: async () => undefined,
      forget: async () => undefined,
    },
    stagedClearValues: new StagedClearValues(),
    s3: undefined as never,
    // No plan of the unit tests has residency; the reader is never asked.
    residency: { facts: async () => { throw new Error('memory stores: no residency facts'); } },
  };
  return { stores, loaded, target, staging, vaultEntries, quarantine, audit, staged };
}

export type { Value };
