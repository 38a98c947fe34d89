import { S3Client } from '@aws-sdk/client-s3';
import { DescribeKeyCommand, KMS } from '@aws-sdk/client-kms';
import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import { createDb } from '../clients/postgres';
import { configuredUrls, planConnectionUrl, type CutoverConfig } from '../config';
import { CONTROL_SCHEMA, ensureControlSchema } from '../control/schema';
import { KeyRing } from '../crypto/key-ring';
import { MigrationKeyRing } from '../crypto/migration-key-ring';
import { StagingCipher } from '../crypto/staging-cipher';
import type { SealingKeys } from '../core/migration-keys';
import { kmsFailureKind, KmsUnavailableError } from '../crypto/kms-errors';
import { AsyncCache } from '../core/async-cache';
import { compileMapper, RowMapper } from '../core/mapping';
import { catalogType, type TargetType } from '../core/target-types';
import type { EntitySpec, Plan } from '../plan/types';
import { SafeError } from './errors';
import { pgSourceReader, SourceReader } from './source-reader';
import { s3StagingStore, StagingStore } from './staging-store';
import { pgTargetWriter, TargetWriter } from './target-writer';

/** What the plan store is built from, once per worker (src/stores/stores.ts). */
export interface PlanStoreDeps {
  config: CutoverConfig;
  control: Knex;
  s3: S3Client;
  kms: KMS;
  keys: Pick<KeyRing, 'get'>;
}

export interface LoadedPlan {
  plan: Plan;
  planHash: string;
  source: Knex;
  target: Knex;
  /**
   * The source as the plan's role in a read-write session, for replication functions (slot and
   * WAL), and the connection string a replication client connects with.
   */
  replicationSource(): Knex;
  sourceUrl: string;
  /** The source's rows, batch by batch, in read-only snapshots. */
  reader: SourceReader;
  /** The plan's encrypted batches and files. */
  staging: StagingStore;
  /** The target's rows, ledger, key map and load fence, as a load writes them. */
  writer: TargetWriter;
  /** The staging cipher and bucket themselves: for tests that tamper with staged objects. */
  cipher: StagingCipher;
  bucket: string;
  entity(name: string): { spec: EntitySpec; mapper: RowMapper };
  /**
   * The target's type of each mapped column (from its catalog), in the mapper's column order;
   * undefined for a reference (its value is compared as the source key it maps back to) and
   * for a column the catalog does not have. Read once per worker and plan.
   */
  targetTypes(entity: string): Promise<(TargetType | undefined)[]>;
  /**
   * The vault's data key (it seals vault entries, quarantined rows and pre-images), after checking
   * that the plan's `keys.vault`, when set, names the KMS key that protects this control
   * database's vault: the token, digest and vault keys. A plan naming another key is refused
   * (PlanMismatch) rather than having its personal data sealed under a key it did not ask for.
   */
  vaultKey(): Promise<Buffer>;
  /**
   * The keys this migration seals its pre-images, quarantined rows and sealed tokens under (and
   * wraps its staged objects' data keys with): its own, or, for a migration registered before
   * migrations had their own, the control database's shared ones (src/core/migration-keys.ts).
   * Refused (MigrationKeysShredded) once its keys are shredded. Only for a registered plan.
   */
  sealing(): Promise<SealingKeys>;
}

/** The type of each column of a target table, as its catalog prints it (`numeric(10,5)`, `character(2)`). */
async function readColumnTypes(db: Knex, schema: string, table: string): Promise<Map<string, TargetType>> {
  const r = await db.raw(
    `select a.attname::text as name, format_type(a.atttypid, a.atttypmod) as type
     from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = ? and c.relname = ? and a.attnum > 0 and not a.attisdropped`,
    [schema, table],
  );
  return new Map((r.rows as { name: string; type: string }[]).map((x) => [x.name, catalogType(x.type)]));
}

/** The long-lived keys personal data depends on; all are wrapped by the vault's KMS key. */
const VAULT_WRAPPED = ['token', 'digest', 'vault'] as const;

/** The plans of migrations by id, each bound to its databases and staging: plans as `prepare` registered them. */
export interface PlanStore {
  /** Registers a migration's plan (once: a second registration of the id keeps the first). */
  register(migration: { migrationId: string; plan: Plan; planHash: string; startedBy?: string }): Promise<void>;
  /** A registered plan (`prepare` registers it), read once per worker. */
  plan(migrationId: string): Promise<LoadedPlan>;
  /** A plan bound to its pools and stores before it is registered (`prepare` checks it this way). */
  bind(plan: Plan, planHash: string): LoadedPlan;
  /** A connection string the plan names: its env var, or the configured default. */
  connectionUrl(envName: string, role: 'source' | 'target'): string;
}

/** The plan store of a worker: database pools by URL, plans by migration id. */
export class PlanRegistry implements PlanStore {
  private readonly pools = new Map<string, Knex>();
  private readonly plans = new AsyncCache<string, LoadedPlan>();
  private readonly ciphers = new Map<string, StagingCipher>();
  private readonly vaultChecks = new AsyncCache<string, void>();
  private readonly migrationKeys: MigrationKeyRing;
  constructor(private readonly deps: PlanStoreDeps) {
    this.migrationKeys = new MigrationKeyRing(deps.control, deps.kms);
  }

  connectionUrl(envName: string, role: 'source' | 'target'): string {
    const url = planConnectionUrl(envName, configuredUrls(this.deps.config, role));
    if (url) return url;
    throw new SafeError(`the plan's ${role} connection ${envName} is not set in the worker's environment`);
  }

  private db(url: string, name: string, readOnly = false): Knex {
    const id = `${readOnly ? 'ro' : 'rw'} ${url}`;
    let db = this.pools.get(id);
    if (!db) {
      db = createDb(url, { max: 8, applicationName: `cutover-${name}`, readOnly });
      this.pools.set(id, db);
    }
    return db;
  }

  private cipher(keyId: string): StagingCipher {
    let c = this.ciphers.get(keyId);
    if (!c) {
      c = new StagingCipher(this.deps.kms, keyId);
      this.ciphers.set(keyId, c);
    }
    return c;
  }

  async register(m: { migrationId: string; plan: Plan; planHash: string; startedBy?: string }): Promise<void> {
    await ensureControlSchema(this.deps.control);
    await this.deps.control(`${CONTROL_SCHEMA}.migrations`)
      // A migration registered from now on has keys of its own (generated at its prepare, or on first use).
      .insert({ migration_id: m.migrationId, plan_name: m.plan.name, plan_hash: m.planHash, plan: JSON.stringify(m.plan), started_by: m.startedBy, own_keys: true })
      .onConflict('migration_id')
      .ignore();
  }

  /** Plans are registered once by `prepare`; other activities read them by id. */
  plan(migrationId: string): Promise<LoadedPlan> {
    return this.plans.get(migrationId, (id) => this.loadPlan(id));
  }

  private async loadPlan(migrationId: string): Promise<LoadedPlan> {
    await ensureControlSchema(this.deps.control);
    const row = await this.deps.control(`${CONTROL_SCHEMA}.migrations`).where({ migration_id: migrationId }).first();
    if (!row) throw new SafeError(`migration ${migrationId} is not registered (prepare did not run)`);
    return this.bind(row.plan as Plan, row.plan_hash, migrationId);
  }

  /**
   * The vault key for a plan: `keys.vault` is checked once per worker and alias (see
   * `LoadedPlan.vaultKey`). The vault is one per control database, shared by every migration
   * on it (equal values give equal tokens across migrations, and an entry is shared by all the
   * migrations whose rows carry its token), so a plan cannot bring a key of its own: it can only
   * require the one the vault has. A separate vault key means a separate control database.
   */
  private async vaultKeyFor(plan: Plan): Promise<Buffer> {
    if (plan.keys.vault) await this.vaultChecks.get(plan.keys.vault, (wanted) => this.checkVaultKms(wanted));
    return this.deps.keys.get('vault');
  }

  private async checkVaultKms(wanted: string): Promise<void> {
    const refuse = (why: string) => ApplicationFailure.nonRetryable(`keys.vault ${wanted}: ${why}`, 'PlanMismatch');
    const arnOf = async (keyId: string): Promise<string | undefined> => {
      const described = await this.deps.kms.send(new DescribeKeyCommand({ KeyId: keyId })).catch((err: unknown) => {
        // KMS unreachable: retried, and reads as an outage (not the plan's fault).
        throw kmsFailureKind(err) === 'outage' ? new KmsUnavailableError(`keys.vault ${wanted} (describe key ${keyId})`, err) : err;
      });
      return described.KeyMetadata?.Arn;
    };
    const wantedArn = await arnOf(wanted).catch((err: Error) => {
      if (err.name === 'NotFoundException') throw refuse('KMS has no such key or alias');
      throw err;
    });
    await ensureControlSchema(this.deps.control);
    const rows: { purpose: string; kms_key_id: string }[] = await this.deps.control(`${CONTROL_SCHEMA}.data_keys`).select('purpose', 'kms_key_id').whereIn('purpose', [...VAULT_WRAPPED]);
    for (const row of rows) {
      const arn = await arnOf(row.kms_key_id).catch(() => row.kms_key_id);
      if (arn !== wantedArn) throw refuse(`this control database's ${row.purpose} key is wrapped by KMS key ${arn}, not by ${wantedArn}; the vault is shared by every migration on the control database and has one key (use another control database for a vault of its own)`);
    }
    if (rows.length < VAULT_WRAPPED.length) {
      // Keys not generated yet are generated under the worker's vault alias.
      const workerAlias = this.deps.config.kms.aliases.vault;
      const workerArn = await arnOf(workerAlias);
      if (workerArn !== wantedArn) throw refuse(`the worker generates the vault's keys under ${workerAlias} (${workerArn}), not under ${wantedArn}: set CUTOVER_KMS_ALIAS_VAULT=${wanted} for the worker`);
    }
  }

  bind(plan: Plan, planHash: string, migrationId?: string): LoadedPlan {
    const mappers = new Map<string, { spec: EntitySpec; mapper: RowMapper }>();
    for (const spec of plan.entities) mappers.set(spec.name, { spec, mapper: compileMapper(spec) });
    const entity = (name: string) => {
      const found = mappers.get(name);
      if (!found) throw new SafeError(`the plan has no entity ${name}`);
      return found;
    };
    const target = this.db(this.connectionUrl(plan.target.urlEnv, 'target'), 'target');
    const sourceUrl = this.connectionUrl(plan.source.urlEnv, 'source');
    // Every session of the source pool is read-only by default too: the plan's queries and filters are SQL.
    const source = this.db(sourceUrl, 'source', true);
    const types = new AsyncCache<string, (TargetType | undefined)[]>();
    const stagingKeyId = plan.keys.staging ?? this.deps.config.kms.aliases.staging;
    const sealing = async (): Promise<SealingKeys> => {
      if (!migrationId) throw new SafeError(`plan ${plan.name} is not registered: it has no keys to seal under yet`);
      return this.migrationKeys.sealing(migrationId, stagingKeyId, async () => ({ vault: await this.vaultKeyFor(plan), token: await this.deps.keys.get('token') }));
    };
    const cipher = migrationId
      ? new StagingCipher(this.deps.kms, stagingKeyId, async () => {
          const keys = await sealing();
          return keys.staging ? { name: migrationId, key: keys.staging } : undefined;
        })
      : this.cipher(stagingKeyId);
    const bucket = plan.staging.bucket ?? this.deps.config.s3.bucket;
    return {
      plan,
      planHash,
      source,
      target,
      reader: pgSourceReader(source),
      replicationSource: () => this.db(sourceUrl, 'source-sync'),
      sourceUrl,
      staging: s3StagingStore(this.deps.s3, { plan, planHash, bucket, cipher, sseKmsKeyId: plan.staging.sseKmsKeyId ?? this.deps.config.s3.sseKmsKeyId }),
      writer: pgTargetWriter(target, plan.target.ledgerSchema),
      cipher,
      bucket,
      vaultKey: () => this.vaultKeyFor(plan),
      sealing,
      entity,
      targetTypes: (name) =>
        types.get(name, async () => {
          const { spec, mapper } = entity(name);
          const byColumn = await readColumnTypes(target, spec.target.schema, spec.target.table);
          return mapper.columns.map((c, i) => (spec.columns[i]!.reference ? undefined : byColumn.get(c)));
        }),
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
    this.pools.clear();
  }
}
